//! Golden tests: the syntax trees of valid inputs (`data/ok`), the
//! diagnostics of malformed ones (`data/err`), and the formatter's output
//! (`data/fmt`). Snapshots live in `tests/snapshots/`; review a change with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test` and `git diff`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use ward_grammar::format::format_source;
use ward_grammar::parse;

/// Valid inputs: no diagnostics, and the tree with spans as the snapshot.
#[test]
fn ok() {
    insta::glob!("data/ok/*.ward", |path| {
        let src = fs::read_to_string(path).unwrap();
        let parse = parse(&src);
        assert!(
            parse.errors.is_empty(),
            "{} should parse without errors:\n{}",
            path.display(),
            common::render_parse(&src, &parse)
        );
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_yaml_snapshot!(parse.file.items);
        });
    });
}

/// Malformed inputs: at least one diagnostic, each pointing into the input;
/// the rendered diagnostics and the items that still parsed as the snapshot.
#[test]
fn err() {
    insta::glob!("data/err/*.ward", |path| {
        let src = fs::read_to_string(path).unwrap();
        let parse = parse(&src);
        assert!(!parse.errors.is_empty(), "{} should not parse", path.display());
        common::check_error_spans(&src, &parse).unwrap();
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(common::render_parse(&src, &parse));
        });
    });
}

/// Messy but valid inputs: the formatted text as the snapshot. Formatting
/// keeps the tree and every comment, and formatting again changes nothing.
#[test]
fn fmt() {
    insta::glob!("data/fmt/*.ward", |path| {
        let src = fs::read_to_string(path).unwrap();
        let formatted = match format_source(&src) {
            Ok(out) => out,
            Err(_) => panic!("{} should parse:\n{}", path.display(), common::render_parse(&src, &parse(&src))),
        };
        let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap();
        assert_eq!(
            pretty(common::tree(&parse(&formatted))),
            pretty(common::tree(&parse(&src))),
            "formatting changed the tree"
        );
        assert_eq!(format_source(&formatted).ok().as_deref(), Some(formatted.as_str()), "formatting is not idempotent");
        for comment in &parse(&src).file.comments {
            assert!(formatted.contains(&comment.text), "formatting lost the comment {:?}", comment.text);
        }
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(formatted);
        });
    });
}

/// Walks a serialized tree: every name and literal spans exactly its text,
/// and every node's span lies within its parent's.
fn check_spans(src: &str, value: &serde_json::Value, parent: (usize, usize), path: &str) -> Result<(), String> {
    let span_of = |v: &serde_json::Value| -> Option<(usize, usize)> {
        let (a, b) = v.as_str()?.split_once("..")?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    match value {
        serde_json::Value::Object(map) => {
            let own = map.get("span").and_then(span_of);
            if let Some((a, b)) = own {
                if a > b || a < parent.0 || b > parent.1 {
                    return Err(format!("{path}: span {a}..{b} outside its parent {}..{}", parent.0, parent.1));
                }
                let text = src.get(a..b).ok_or_else(|| format!("{path}: span {a}..{b} not on char boundaries"))?;
                // An action named by a string spans the string literal.
                let quoted = |t: &str| t.len() >= 2 && t.starts_with('"') && t.ends_with('"');
                // A namespaced name (`Acme::Docs`) may have blanks around `::`.
                let joined: String = text.split_whitespace().collect();
                if let Some(name) = map.get("name").and_then(|n| n.as_str())
                    && text != name
                    && !(name.contains("::") && joined == name)
                    && (!quoted(text) || name.is_empty())
                {
                    return Err(format!("{path}: name {name:?} spans {text:?}"));
                }
                if let Some(raw) = map.get("raw").and_then(|n| n.as_str())
                    && text != raw
                {
                    return Err(format!("{path}: literal {raw:?} spans {text:?}"));
                }
            }
            let inner = own.unwrap_or(parent);
            for (k, v) in map {
                check_spans(src, v, inner, &format!("{path}.{k}"))?;
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_spans(src, v, parent, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Names and literals span their own text, and nodes nest, in every valid
/// input.
#[test]
fn spans_cover_their_text() {
    let mut samples = common::golden("ok");
    samples.extend(common::golden("fmt"));
    samples.extend(common::programs());
    for sample in samples {
        let parse = parse(&sample.text);
        assert!(parse.errors.is_empty(), "{} should parse", sample.name);
        let value = serde_json::to_value(&parse.file.items).unwrap();
        if let Err(e) = check_spans(&sample.text, &value, (0, sample.text.len()), "items") {
            panic!("{}: {e}", sample.name);
        }
    }
}
