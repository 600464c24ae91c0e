//! Parses arbitrary bytes (read as UTF-8 with replacement characters).
//!
//! Checks: the parser never panics and every diagnostic points into the
//! input; a text the parser accepts formats, formatting it again changes
//! nothing, and the normative grammar accepts it too; a text the grammar
//! accepts, the parser accepts (unless it nests past the parser's limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_grammar::format::format_source;
use ward_grammar::{parse, reference};

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let parsed = parse(&src);
    for e in &parsed.errors {
        for span in std::iter::once(e.span).chain(e.related.iter().map(|(s, _)| *s)) {
            let (a, b) = (span.start as usize, span.end as usize);
            assert!(a <= b && b <= src.len(), "{} span {a}..{b} outside the input", e.code);
            assert!(src.is_char_boundary(a) && src.is_char_boundary(b), "{} span {a}..{b} splits a character", e.code);
        }
    }

    let grammar = reference::check(&src);
    if parsed.errors.is_empty() {
        let formatted = match format_source(&src) {
            Ok(f) => f,
            Err(errors) => panic!("format_source refused a text that parses: {errors:?}"),
        };
        match format_source(&formatted) {
            Ok(again) => assert_eq!(again, formatted, "formatting is not idempotent"),
            Err(errors) => panic!("the formatted text does not parse: {errors:?}\n{formatted}"),
        }
        if let Err(e) = grammar {
            assert!(e.contains("call limit reached"), "the grammar rejects a text the parser accepts:\n{e}");
        }
    } else if grammar.is_ok() {
        let too_deep = parsed.errors.iter().any(|e| e.code == "E0006");
        assert!(too_deep, "the parser rejects a text the grammar accepts: {:?}", parsed.errors.first());
    }
});
