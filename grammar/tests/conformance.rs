//! The hand-written parser accepts exactly the texts the normative grammar
//! (`ward.pest`) accepts: checked on every corpus text — the golden inputs,
//! the examples, the standard library and the documentation's samples.
//! (Generated programs are checked in `properties.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ward_grammar::{parse, reference};

#[test]
fn parser_and_grammar_agree_on_every_corpus_text() {
    let mut disagreements = Vec::new();
    let samples = common::everything();
    assert!(samples.len() >= 60, "the corpus is unexpectedly small: {} texts", samples.len());
    for sample in &samples {
        let grammar = reference::check(&sample.text);
        let parser = parse(&sample.text);
        if grammar.is_ok() != parser.errors.is_empty() {
            let parser_says = match parser.errors.first() {
                None => "the parser accepts it".to_string(),
                Some(e) => format!("the parser rejects it:\n{}", common::render_error(&sample.text, e)),
            };
            let grammar_says = match grammar {
                Ok(()) => "the grammar accepts it".to_string(),
                Err(e) => format!("the grammar rejects it:\n{e}"),
            };
            disagreements.push(format!("{}: {grammar_says}\n{parser_says}", sample.name));
        }
    }
    assert!(disagreements.is_empty(), "{} disagreements:\n\n{}", disagreements.len(), disagreements.join("\n\n"));
}

/// The golden inputs are what their directory says they are.
#[test]
fn golden_inputs_are_classified_right() {
    for sample in common::golden("ok").iter().chain(common::golden("fmt").iter()) {
        assert!(reference::check(&sample.text).is_ok(), "{} should be valid", sample.name);
    }
    for sample in common::golden("err") {
        assert!(reference::check(&sample.text).is_err(), "{} should be invalid", sample.name);
    }
}

/// Every ```ward block of the language reference is a valid program.
#[test]
fn documentation_samples_are_valid() {
    let blocks = common::doc_blocks();
    for block in &blocks {
        let parse = parse(&block.text);
        assert!(parse.errors.is_empty(), "{}:\n{}", block.name, common::render_parse(&block.text, &parse));
    }
}
