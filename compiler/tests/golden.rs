//! Golden tests of the checker's diagnostics.
//!
//! Each file of `tests/data/` is a small policy with one intended problem,
//! named for it. Its first line says which diagnostics it must produce
//! (`// expect: E0104`, codes in order of position); the snapshot pins the
//! full rendering: code, severity, exact spans, message, label, help and
//! secondary labels, and the source line with carets under the primary span.
//! Review a change with `cargo insta review` (or `INSTA_UPDATE=always cargo
//! test` and `git diff`).
//!
//! The other tests check that the bundled examples are clean and that very
//! large and very deep programs are checked without overflowing the stack.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use ward_compiler::{Diagnostic, FileId, Label, Options, Severity, SourceSet, check, literals};
use ward_grammar::lines::LineIndex;

/// The date the lifecycle checks compare against: fixed, so the snapshots do
/// not change with the calendar.
const TODAY: &str = "2026-11-26";

fn options() -> Options {
    Options { today: Some(literals::date_days(TODAY).unwrap()), ..Options::default() }
}

fn range(sources: &SourceSet, main: FileId, label: &Label) -> String {
    let source = sources.get(label.file).unwrap();
    let lines = LineIndex::new(&source.text);
    let file = if label.file == main { String::new() } else { format!("{} ", source.path) };
    format!("{file}{}-{}", lines.line_col(label.span.start), lines.line_col(label.span.end))
}

/// The line of the primary span with `^` under the span (to the end of the
/// line when the span continues on the next ones).
fn carets(text: &str, start: usize, end: usize) -> String {
    let std::ops::Range { start: line_start, end: line_end } = LineIndex::new(text).line_range(start as u32);
    let line = &text[line_start..line_end];
    let pad: String = text[line_start..start].chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let width = text[start..end.min(line_end).max(start)].chars().count().max(1);
    format!("{line}\n{pad}{}", "^".repeat(width))
}

pub fn render(sources: &SourceSet, main: FileId, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        writeln!(out, "{} {severity} {}: {}", d.code, range(sources, main, &d.primary), d.message).unwrap();
        if !d.primary.message.is_empty() {
            writeln!(out, "  label: {}", d.primary.message).unwrap();
        }
        if let Some(help) = &d.help {
            writeln!(out, "  help: {help}").unwrap();
        }
        for s in &d.secondary {
            writeln!(out, "  secondary {}: {}", range(sources, main, s), s.message).unwrap();
        }
        let text = &sources.get(d.primary.file).unwrap().text;
        writeln!(out, "{}", carets(text, d.primary.span.start as usize, d.primary.span.end as usize)).unwrap();
        out.push('\n');
    }
    out
}

/// Checks one file on its own, with the standard library.
fn check_file(path: &Path) -> (SourceSet, FileId, Vec<Diagnostic>) {
    let text = fs::read_to_string(path).unwrap();
    let mut sources = SourceSet::default();
    let main = sources.add(path.file_name().unwrap().to_string_lossy(), &text);
    sources.add_stdlib();
    let diags = check(&sources, &options());
    (sources, main, diags)
}

/// The codes a data file announces on its first line: `// expect: E0104 W0101`.
fn expected_codes(text: &str) -> Vec<String> {
    let first = text.lines().next().unwrap_or("");
    let Some(codes) = first.strip_prefix("// expect:") else {
        panic!("the first line of a golden file must be `// expect: CODE…`, found {first:?}")
    };
    codes.split_whitespace().map(str::to_string).collect()
}

#[test]
fn diagnostics() {
    insta::glob!("data/*.ward", |path| {
        let (sources, main, diags) = check_file(path);
        let text = &sources.get(main).unwrap().text;
        let rendered = render(&sources, main, &diags);
        for d in &diags {
            assert_eq!(d.primary.file, main, "{}: a diagnostic points outside the file:\n{rendered}", path.display());
            assert!(d.primary.span.start <= d.primary.span.end && (d.primary.span.end as usize) <= text.len());
            assert!(d.primary.span.end > d.primary.span.start, "{}: an empty span:\n{rendered}", path.display());
        }
        let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, expected_codes(text), "{}:\n{rendered}", path.display());
        insta::with_settings!({ omit_expression => true, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(rendered);
        });
    });
}

/// Programs that must check cleanly: each construct once drew a false positive.
#[test]
fn valid_programs_have_no_diagnostics() {
    insta::glob!("data/valid/*.ward", |path| {
        let (sources, main, diags) = check_file(path);
        assert!(diags.is_empty(), "{}:\n{}", path.display(), render(&sources, main, &diags));
    });
}

/// There are enough golden files, and every warning code has one.
#[test]
fn coverage() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut codes = std::collections::BTreeSet::new();
    let mut files = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ward") {
            files += 1;
            codes.extend(expected_codes(&fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(files >= 45, "only {files} golden files");
    for n in (101..=117).chain([120]) {
        let code = format!("W0{n}");
        assert!(codes.contains(&code), "no golden file for {code}");
    }
}

/// Every example folder, checked on its own with the standard library, is
/// free of errors and warnings.
#[test]
fn examples_are_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    let mut dirs: Vec<_> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for dir in dirs {
        let mut sources = SourceSet::default();
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "ward"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no .ward files", dir.display());
        for f in &files {
            sources.add(f.display().to_string(), &fs::read_to_string(f).unwrap());
        }
        sources.add_stdlib();
        let diags = check(&sources, &options());
        let mut rendered = String::new();
        for (id, _) in sources.iter() {
            let of_file: Vec<Diagnostic> = diags.iter().filter(|d| d.primary.file == id).cloned().collect();
            rendered.push_str(&render(&sources, FileId(u32::MAX), &of_file));
        }
        assert!(diags.is_empty(), "{}:\n{rendered}", dir.display());
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} examples");
}

const SCALE_SCHEMA: &str = "schema s {\n  entity Team\n  entity User in [Team] { level: Int, team: String }\n  entity Doc { owner?: User, size: Int }\n  action read, write by [User] on [Doc]\n}\n";

/// A policy of 10,000 rules checks, without diagnostics.
#[test]
fn ten_thousand_rules() {
    let mut text = String::from(SCALE_SCHEMA);
    text.push_str("policy big {\n");
    for i in 0..10_000 {
        let action = if i % 2 == 0 { "read" } else { "write" };
        writeln!(text, "  @id(\"r{i}\")\n  permit principal: User, action: {action}, resource: Doc when principal.level > {i} && resource.size < {}", i + 1)
            .unwrap();
    }
    text.push_str("}\n");
    let mut sources = SourceSet::default();
    sources.add("big.ward", &text);
    sources.add_stdlib();
    let diags = check(&sources, &options());
    assert!(diags.is_empty(), "{:?}", diags.first());
}

fn check_text(text: &str) -> Vec<Diagnostic> {
    let mut sources = SourceSet::default();
    sources.add("deep.ward", text);
    sources.add_stdlib();
    check(&sources, &options())
}

/// 1,000 nested parentheses around a comparison check on a normal test
/// thread, and a type error at the bottom is still found.
#[test]
fn deeply_nested_parentheses() {
    let deep = |inner: &str| {
        format!(
            "{SCALE_SCHEMA}policy deep {{\n  permit action: read when {}{inner}{}\n}}\n",
            "(".repeat(1000),
            ")".repeat(1000)
        )
    };
    let diags = check_text(&deep("principal.level > 1"));
    assert!(diags.is_empty(), "{diags:?}");
    let diags = check_text(&deep("principal.level == \"1\""));
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0202"]);
}

/// A 1,000-long `&&` chain (and `||` chain, and a mix) checks on a normal
/// test thread; `has` facts still flow along the whole chain.
#[test]
fn long_boolean_chains() {
    let chain = |op: &str, last: &str| {
        let mut parts: Vec<String> = (0..1000).map(|i| format!("principal.level > {i}")).collect();
        parts.push(last.to_string());
        format!(
            "{SCALE_SCHEMA}policy long {{\n  permit action: read when resource has owner {op} {}\n}}\n",
            parts.join(&format!(" {op} "))
        )
    };
    assert!(check_text(&chain("&&", "resource.owner.level > 0")).is_empty());
    assert!(check_text(&chain("||", "resource.size > 0")).is_empty());
    let diags = check_text(&chain("&&", "resource.size == \"0\""));
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0202"]);
    // Mixed: `a && b || c && d || …`.
    let mut parts: Vec<String> = Vec::new();
    for i in 0..500 {
        parts.push(format!("principal.level > {i} && resource.size < {i}"));
    }
    let text = format!("{SCALE_SCHEMA}policy mixed {{\n  permit action: read when {}\n}}\n", parts.join(" || "));
    assert!(check_text(&text).is_empty());
}

/// Issue 15: `principal has a.a.a…` cost the square of its length (each
/// prefix kept as its own string). A path longer than data can nest is
/// refused (E0228); 100,000 segments would have meant 10^10 bytes copied.
#[test]
fn a_has_path_longer_than_data_can_nest_is_refused_at_linear_cost() {
    let schema = "schema s {\n  entity User { a?: R }\n  type R = { a?: Bool }\n  action read by [User] on [User]\n}\n";
    let has = |n: usize| {
        format!("{schema}policy p {{\n  permit action: read when principal has {}\n}}\n", vec!["a"; n].join("."))
    };
    let codes = |n: usize| check_text(&has(n)).iter().map(|d| d.code).collect::<Vec<_>>();
    assert!(!codes(2).contains(&"E0228"), "{:?}", codes(2));
    assert!(!codes(ward_compiler::check::MAX_HAS_PATH).contains(&"E0228"));
    assert_eq!(codes(ward_compiler::check::MAX_HAS_PATH + 1), ["E0228"]);
    let diags = check_text(&has(100_000));
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0228"], "{diags:?}");
    assert!(diags[0].message.contains("100000 segments"), "{}", diags[0].message);
}

/// Issue 15: the "did you mean" search compared a misspelt 200,000-character
/// name with a declared one of the same length: 4·10^10 cells. Long names
/// get no suggestion; short ones still do.
#[test]
fn a_long_misspelt_name_is_reported_without_a_quadratic_search() {
    let long = "x".repeat(200_000);
    let text = |declared: &str, used: &str| {
        format!(
            "schema s {{\n  entity User {{ {declared}: Bool }}\n  action read by [User] on [User]\n}}\npolicy p {{\n  permit action: read when principal.{used}\n}}\n"
        )
    };
    let diags = check_text(&text(&long, &format!("{long}y")));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(diags[0].help.iter().all(|h| !h.contains("did you mean")), "{:?}", diags[0].help);
    let diags = check_text(&text("region", "regoin"));
    assert!(diags[0].help.iter().any(|h| h.contains("did you mean `region`")), "{:?}", diags[0].help);
}
