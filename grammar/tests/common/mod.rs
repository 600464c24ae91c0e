//! Helpers shared by the grammar's integration tests: the corpora, a
//! span-free view of syntax trees, and a readable rendering of diagnostics.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ward_grammar::ast::{Item, PolicyItem, SchemaItem};
use ward_grammar::lines::LineIndex;
use ward_grammar::{Parse, Span, SyntaxError};

/// The repository root (the grammar crate's parent).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("grammar/ has a parent").to_path_buf()
}

/// The test data directory, `grammar/tests/data`.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("data")
}

/// `*.ward` files directly in `dir`, sorted; none when the directory is absent.
fn ward_files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ward") && p.is_file())
        .collect();
    out.sort();
    out
}

/// `*.ward` files anywhere below `dir`, sorted.
fn ward_files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = ward_files_in(dir);
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut dirs: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for d in dirs {
            out.extend(ward_files_below(&d));
        }
    }
    out
}

/// A named source text of a corpus.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub text: String,
}

fn read(path: &Path) -> Sample {
    let root = repo_root();
    let name = path.strip_prefix(&root).unwrap_or(path).display().to_string();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {name}: {e}"));
    Sample { name, text }
}

/// The golden inputs of one kind: `ok`, `err` or `fmt`.
pub fn golden(kind: &str) -> Vec<Sample> {
    ward_files_in(&data_dir().join(kind)).iter().map(|p| read(p)).collect()
}

/// The ```ward blocks of docs/language.md (each a complete file).
pub fn doc_blocks() -> Vec<Sample> {
    let path = repo_root().join("docs").join("language.md");
    let Ok(text) = std::fs::read_to_string(&path) else { return Vec::new() };
    let mut out = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut block {
            None if line.trim_start() == "```ward" => block = Some((i + 1, String::new())),
            None => {}
            Some((start, body)) => {
                if line.trim_start() == "```" {
                    out.push(Sample { name: format!("docs/language.md:{}", *start), text: std::mem::take(body) });
                    block = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    out
}

/// Valid programs written by people: examples, the standard library, the
/// documentation's samples. Any of them may be absent.
pub fn programs() -> Vec<Sample> {
    let root = repo_root();
    let mut files = ward_files_below(&root.join("examples"));
    files.extend(ward_files_below(&root.join("stdlib")));
    files.extend(ward_files_in(&root.join("docs")));
    let mut out: Vec<Sample> = files.iter().map(|p| read(p)).collect();
    out.extend(doc_blocks());
    out
}

/// Every corpus text: the golden inputs, the programs, and the compiler's
/// test inputs (which may be valid or not).
pub fn everything() -> Vec<Sample> {
    let mut out = golden("ok");
    out.extend(golden("err"));
    out.extend(golden("fmt"));
    out.extend(programs());
    let compiler_data = repo_root().join("compiler").join("tests").join("data");
    out.extend(ward_files_below(&compiler_data).iter().map(|p| read(p)));
    out
}

// ───────────────────────── trees without spans ─────────────────────────

fn is_span_text(s: &str) -> bool {
    let Some((a, b)) = s.split_once("..") else { return false };
    !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
}

/// Removes every span from a serialized tree: `span` and `*_span` fields,
/// and spans serialized inside tuples (`"12..15"`).
pub fn strip_spans(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| k != "span" && !k.ends_with("_span"));
            for v in map.values_mut() {
                strip_spans(v);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                strip_spans(v);
            }
        }
        serde_json::Value::String(s) if is_span_text(s) => *s = "<span>".to_string(),
        _ => {}
    }
}

/// The tree of a parse, spans removed, for comparing two parses.
pub fn tree(parse: &Parse) -> serde_json::Value {
    let mut value = serde_json::to_value(&parse.file.items).expect("the tree serializes");
    strip_spans(&mut value);
    value
}

// ───────────────────────── diagnostics ─────────────────────────

fn range(src: &str, span: Span) -> String {
    let lines = LineIndex::new(src);
    format!("{}-{}", lines.line_col(span.start), lines.line_col(span.end))
}

/// The source line holding `span.start`, with `^` under the span (up to the
/// end of that line; a `^` at the position for an empty span).
fn excerpt(src: &str, span: Span) -> String {
    let lines = LineIndex::new(src);
    let start = (span.start as usize).min(src.len());
    let Range { start: line_start, end: line_end } = lines.line_range(span.start);
    let line = src.get(line_start..line_end).unwrap_or("").trim_end_matches('\r');
    let number = lines.line_col(span.start).line;
    let pad = src.get(line_start..start).map_or(0, |s| s.chars().count());
    let end = (span.end as usize).clamp(start, line_end);
    let width = src.get(start..end).map_or(0, |s| s.chars().count()).max(1);
    let gutter = " ".repeat(number.to_string().len());
    format!("{gutter} |\n{number} | {line}\n{gutter} | {}{}\n", " ".repeat(pad), "^".repeat(width))
}

/// One diagnostic as text: the code, the range, the message, the label, the
/// help, the related spans and the offending source line.
pub fn render_error(src: &str, e: &SyntaxError) -> String {
    let mut out = format!("{} {} {}\n", e.code, range(src, e.span), e.message);
    let _ = writeln!(out, "  label: {}", e.label);
    if let Some(help) = &e.help {
        let _ = writeln!(out, "  help: {help}");
    }
    for (span, label) in &e.related {
        let _ = writeln!(out, "  related {}: {label}", range(src, *span));
    }
    out.push_str(&excerpt(src, e.span));
    for (span, _) in &e.related {
        out.push_str(&excerpt(src, *span));
    }
    out
}

/// The kinds of the items that parsed, members included:
/// `Schema(Entity, Error), Policy(Rule)`.
pub fn item_kinds(items: &[Item]) -> String {
    let kinds: Vec<String> = items
        .iter()
        .map(|item| match item {
            Item::Import(_) => "Import".to_string(),
            Item::Schema(s) => {
                let members: Vec<&str> = s
                    .items
                    .iter()
                    .map(|m| match m {
                        SchemaItem::Entity(_) => "Entity",
                        SchemaItem::Enum(_) => "Enum",
                        SchemaItem::TypeAlias(_) => "Type",
                        SchemaItem::Action(_) => "Action",
                        SchemaItem::Context(_) => "Context",
                        SchemaItem::Error(_) => "Error",
                    })
                    .collect();
                format!("Schema({})", members.join(", "))
            }
            Item::Agent(_) => "Agent".to_string(),
            Item::Policy(p) => {
                let members: Vec<&str> = p
                    .items
                    .iter()
                    .map(|m| match m {
                        PolicyItem::Rule(_) => "Rule",
                        PolicyItem::Mask(_) => "Mask",
                        PolicyItem::Limit(_) => "Limit",
                        PolicyItem::Error(_) => "Error",
                    })
                    .collect();
                format!("Policy({})", members.join(", "))
            }
            Item::Detector(_) => "Detector".to_string(),
            Item::Fixture(_) => "Fixture".to_string(),
            Item::Test(_) => "Test".to_string(),
            Item::Assert(_) => "Assert".to_string(),
            Item::Error(_) => "Error".to_string(),
        })
        .collect();
    kinds.join(", ")
}

/// Every diagnostic of a parse, then the items that parsed.
pub fn render_parse(src: &str, parse: &Parse) -> String {
    let mut out = String::new();
    for e in &parse.errors {
        out.push_str(&render_error(src, e));
        out.push('\n');
    }
    let _ = writeln!(out, "items: {}", item_kinds(&parse.file.items));
    out
}

/// Checks that every span of every diagnostic lies within `src` and on
/// character boundaries.
pub fn check_error_spans(src: &str, parse: &Parse) -> Result<(), String> {
    for e in &parse.errors {
        let spans = std::iter::once(e.span).chain(e.related.iter().map(|(s, _)| *s));
        for span in spans {
            let (a, b) = (span.start as usize, span.end as usize);
            if a > b || b > src.len() || !src.is_char_boundary(a) || !src.is_char_boundary(b) {
                return Err(format!(
                    "{} has a bad span {a}..{b} (input of {} bytes): {}",
                    e.code,
                    src.len(),
                    e.message
                ));
            }
        }
    }
    Ok(())
}
