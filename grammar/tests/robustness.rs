//! Any input gets a tree and diagnostics: never a panic, a hang or a stack
//! overflow. These tests run on the default test thread (2 MiB of stack),
//! in debug builds too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use ward_grammar::format::format_source;
use ward_grammar::{MAX_NESTING, Parse, parse};

/// Parses `src`, checks the diagnostics point into it, and returns the parse.
fn parse_checked(src: &str) -> Parse {
    let parsed = parse(src);
    if let Err(e) = common::check_error_spans(src, &parsed) {
        panic!("{e}");
    }
    parsed
}

fn codes(parse: &Parse) -> Vec<&'static str> {
    parse.errors.iter().map(|e| e.code).collect()
}

fn in_rule(condition: &str) -> String {
    format!("policy p {{\n  permit when {condition}\n}}\n")
}

/// A deterministic stream of pseudo-random bytes.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as u8
        })
        .collect()
}

#[test]
fn ten_megabytes_of_rules_parse() {
    let rule = r#"  @id("r")
  permit principal: Agent, action in [read, write], resource in Folder::"f"
    when context.mfa && principal.clearance >= internal || resource.tags.contains("x")
    unless count(within 1h action: read) > 100
    obligation audit(level: high)

"#;
    let mut src = String::with_capacity(10 * 1024 * 1024 + 1024);
    let mut policies = 0;
    while src.len() < 10 * 1024 * 1024 {
        src.push_str(&format!("// policy {policies}\npolicy p{policies} {{\n"));
        for _ in 0..1000 {
            src.push_str(rule);
        }
        src.push_str("}\n\n");
        policies += 1;
    }
    let parsed = parse_checked(&src);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors.first());
    assert_eq!(parsed.file.items.len(), policies);
}

#[test]
fn a_hundred_thousand_open_parentheses_are_too_deep() {
    let src = in_rule(&"(".repeat(100_000));
    let parsed = parse_checked(&src);
    assert_eq!(codes(&parsed), ["E0006"]);
    // The error points at the parenthesis that is one level too deep.
    let e = &parsed.errors[0];
    assert_eq!(&src[e.span.range()], "(");
    assert!(e.message.contains(&MAX_NESTING.to_string()));
}

#[test]
fn deep_nesting_of_every_kind_is_refused_not_overflowed() {
    let n = 100_000;
    let cases = [
        ("parentheses", in_rule(&format!("{}x{}", "(".repeat(n), ")".repeat(n)))),
        ("sets", in_rule(&format!("{}x{}", "[".repeat(n), "]".repeat(n)))),
        ("records", in_rule(&format!("{}x{}", "{a: ".repeat(n), "}".repeat(n)))),
        ("calls", in_rule(&format!("{}x{}", "f(".repeat(n), ")".repeat(n)))),
        ("methods", in_rule(&format!("x{}", ".f(x".repeat(n)))),
        ("negations", in_rule(&format!("{}x", "!".repeat(n)))),
        ("minus signs", in_rule(&format!("{}x", "- ".repeat(n)))),
        ("members", in_rule(&format!("x{}", ".a".repeat(n)))),
        ("indexes", in_rule(&format!("x{}", "[\"k\"]".repeat(n)))),
        ("or chain", in_rule(&format!("x{}", " || x".repeat(n)))),
        ("and chain", in_rule(&format!("x{}", " && x".repeat(n)))),
        ("sum chain", in_rule(&format!("x{}", " + 1 - 2".repeat(n)))),
        ("flows", in_rule(&"previously within 1h action: a where ".repeat(n))),
        ("flow targets", in_rule(&"count(within 1h principal in [".repeat(n))),
        ("scope path", format!("policy p {{ permit principal in a{} }}", ".b".repeat(n))),
        ("generic types", format!("schema s {{ type T = {}X{} }}", "Set<".repeat(n), ">".repeat(n))),
        ("record types", format!("schema s {{ type T = {}X{} }}", "{a: ".repeat(n), "}".repeat(n))),
        ("agent attrs", format!("agent a: A {{ attrs {}1{} }}", "{a: ".repeat(n), "}".repeat(n))),
        ("fixture attrs", format!("fixture f {{ entity A::\"a\" {}1{} }}", "{a: ".repeat(n), "}".repeat(n))),
    ];
    for (name, src) in cases {
        let parsed = parse_checked(&src);
        assert!(codes(&parsed).contains(&"E0006"), "{name}: {:?}", codes(&parsed));
    }
}

/// Trees just below the limit are fine, and so is everything that walks
/// them: formatting, dropping.
#[test]
fn a_thousand_levels_parse_and_format() {
    let n = 1_000;
    let cases = [
        ("parentheses", in_rule(&format!("{}x{}", "(".repeat(n), ")".repeat(n)))),
        ("sets", in_rule(&format!("{}x{}", "[".repeat(n), "]".repeat(n)))),
        ("records", in_rule(&format!("{}x{}", "{a: ".repeat(n), "}".repeat(n)))),
        ("calls", in_rule(&format!("{}x{}", "f(".repeat(n), ")".repeat(n)))),
        ("mixed", in_rule(&format!("{}x{}", "!(a || [f({a: ".repeat(n / 4), "})])".repeat(n / 4)))),
        ("negations", in_rule(&format!("{}x", "!".repeat(n)))),
        ("members", in_rule(&format!("x{}", ".a".repeat(n)))),
        ("or chain", in_rule(&format!("x{}", " || x".repeat(n)))),
        ("sum chain", in_rule(&format!("x{}", " + 1".repeat(n)))),
        ("flows", in_rule(&format!("{}x", "previously within 1h action: a where ".repeat(n)))),
        ("generic types", format!("schema s {{ type T = {}X{} }}", "Set<".repeat(n), ">".repeat(n))),
        ("record types", format!("schema s {{ type T = {}X{} }}", "{a: ".repeat(n), "}".repeat(n))),
    ];
    for (name, src) in cases {
        let parsed = parse_checked(&src);
        assert!(parsed.errors.is_empty(), "{name}: {:?}", parsed.errors.first());
        let formatted = format_source(&src).unwrap_or_else(|_| panic!("{name} does not format"));
        assert!(parse(&formatted).errors.is_empty(), "{name}: the formatted text does not parse");
    }
}

/// Just below the limit, every shape still parses, formats and drops.
#[test]
fn nesting_up_to_the_limit_parses_and_formats() {
    let n = MAX_NESTING as usize - 2;
    let cases = [
        ("parentheses", in_rule(&format!("{}x{}", "(".repeat(n), ")".repeat(n)))),
        ("sets", in_rule(&format!("{}x{}", "[".repeat(n), "]".repeat(n)))),
        ("records", in_rule(&format!("{}x{}", "{a: ".repeat(n), "}".repeat(n)))),
        ("calls", in_rule(&format!("{}x{}", "f(".repeat(n), ")".repeat(n)))),
        ("methods", in_rule(&format!("x{}{}", ".f(x".repeat(n / 2), ")".repeat(n / 2)))),
        ("negations", in_rule(&format!("{}x", "!".repeat(n)))),
        ("members", in_rule(&format!("x{}", ".a".repeat(n)))),
        ("or chain", in_rule(&format!("x{}", " || x".repeat(n)))),
        ("chains in parentheses", in_rule(&format!("{}x{}", "(x || ".repeat(n / 2), ")".repeat(n / 2)))),
        ("left chains", in_rule(&format!("{}x{}", "(".repeat(n / 3), " || x)".repeat(n / 3)))),
        ("flows", in_rule(&format!("{}x", "previously within 1h action: a where ".repeat(n)))),
        ("record types", format!("schema s {{ type T = {}X{} }}", "{a: ".repeat(n), "}".repeat(n))),
        ("generic types", format!("schema s {{ type T = {}X{} }}", "List<".repeat(n), ">".repeat(n))),
    ];
    for (name, src) in cases {
        let parsed = parse_checked(&src);
        assert!(parsed.errors.is_empty(), "{name}: {:?}", parsed.errors.first());
        drop(parsed);
        let formatted = format_source(&src).unwrap_or_else(|_| panic!("{name} does not format"));
        assert!(parse(&formatted).errors.is_empty(), "{name}: the formatted text does not parse");
    }
}

#[test]
fn invalid_utf8_is_read_lossily() {
    let inputs: [&[u8]; 6] = [
        b"policy p { permit when context.a == \"\xff\xfe\" }",
        b"\xef\xbb\xbfpolicy p {}",
        b"policy p { permit when a\xc3 }",
        b"policy \x00 p {}",
        b"\xf0\x9f\x8e",
        b"\xed\xa0\x80",
    ];
    for bytes in inputs {
        let src = String::from_utf8_lossy(bytes);
        let _ = parse_checked(&src);
    }
    for seed in 0..64 {
        let src = String::from_utf8_lossy(&noise(4096, seed)).into_owned();
        let parsed = parse_checked(&src);
        assert!(!parsed.errors.is_empty());
    }
}

#[test]
fn a_megabyte_of_binary_data_gets_diagnostics() {
    let src = String::from_utf8_lossy(&noise(1024 * 1024, 42)).into_owned();
    let parsed = parse_checked(&src);
    assert!(!parsed.errors.is_empty());
}

/// The normative grammar, too, refuses deep input rather than overflowing.
#[test]
fn the_grammar_survives_deep_input() {
    let n = 100_000;
    assert!(ward_grammar::reference::check(&in_rule(&"(".repeat(n))).is_err());
    // Whether pest accepts these depends on its call limit; it must only return.
    let _ = ward_grammar::reference::check(&in_rule(&format!("{}x", "!".repeat(n))));
    let types = format!("schema s {{ type T = {}X{} }}", "Set<".repeat(n), ">".repeat(n));
    let _ = ward_grammar::reference::check(&types);
}

#[test]
fn a_hundred_thousand_negations_are_too_deep() {
    let src = in_rule(&format!("{}context.mfa", "!".repeat(100_000)));
    let parsed = parse_checked(&src);
    assert_eq!(codes(&parsed), ["E0006"]);
}

#[test]
fn long_literals_and_lines() {
    let long = "a".repeat(1024 * 1024);
    let src = in_rule(&format!("context.s == \"{long}\\u{{1F600}}\\\"\""));
    let parsed = parse_checked(&src);
    assert!(parsed.errors.is_empty());
    let unterminated = in_rule(&format!("context.s == \"{long}"));
    assert_eq!(codes(&parse_checked(&unterminated)), ["E0002"]);
    let name = format!("x{}", "y".repeat(1024 * 1024));
    assert!(parse_checked(&in_rule(&name)).errors.is_empty());
    let number = "9".repeat(1024 * 1024);
    assert!(parse_checked(&in_rule(&format!("x < {number}"))).errors.is_empty());
    let comment = format!("// {}\npolicy p {{}}\n", "c".repeat(1024 * 1024));
    let parsed = parse_checked(&comment);
    assert!(parsed.errors.is_empty());
    assert!(format_source(&comment).unwrap().contains(&"c".repeat(1024 * 1024)));
}

/// Inputs that stress error recovery finish, with a bounded number of
/// diagnostics.
#[test]
fn recovery_on_pathological_input_finishes() {
    let mb = 1024 * 1024;
    let cases = [
        ("open braces", "{".repeat(mb)),
        ("close braces", "}".repeat(mb)),
        ("permits", "permit ".repeat(mb / 7)),
        ("policy keywords", "policy\n".repeat(mb / 7)),
        ("unclosed policies", "policy p {\n".repeat(mb / 11)),
        ("annotations", "@".repeat(mb)),
        ("quotes", "\"\n".repeat(mb / 2)),
        ("broken rules", "policy p {\n".to_string() + &"  permit when ==\n".repeat(mb / 16)),
        ("glued literals", "1x ".repeat(mb / 3)),
        ("unknown characters", "#$%^~`".repeat(mb / 6)),
    ];
    for (name, src) in cases {
        let parsed = parse_checked(&src);
        assert!(!parsed.errors.is_empty(), "{name}");
    }
}

#[test]
fn formatting_a_large_commented_file_finishes() {
    let chunk = r#"// A rule with a comment, a record and a long condition.
policy p {
  // inside
  permit principal: Agent when context.a == { k: 1, "l": [1, 2, 3] } // trailing
    && context.b // in the middle
    obligation audit(level: high)
}

"#;
    let src = chunk.repeat(2 * 1024 * 1024 / chunk.len());
    let formatted = format_source(&src).unwrap();
    assert!(parse(&formatted).errors.is_empty());
}
