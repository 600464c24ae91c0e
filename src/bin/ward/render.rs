//! Rendering diagnostics: ariadne for people, one JSON object per line for
//! machines (CI annotations).

use std::io::Write;

use ariadne::{Color, Config, IndexType, Label, Report, ReportKind};
use ward_compiler::{Diagnostic, FileId, Severity, SourceSet};
use ward_grammar::lines::LineCol;

/// Writes `diag` as an ariadne report.
pub fn human(out: &mut dyn Write, sources: &SourceSet, diag: &Diagnostic, color: bool) -> std::io::Result<()> {
    let name = |id: FileId| sources.get(id).map_or_else(|| "<unknown>".to_string(), |s| s.path.clone());
    let (kind, primary_color) = match diag.severity {
        Severity::Error => (ReportKind::Error, Color::Red),
        Severity::Warning => (ReportKind::Warning, Color::Yellow),
        Severity::Note => (ReportKind::Advice, Color::Cyan),
    };
    let file = name(diag.primary.file);
    let mut report = Report::build(kind, (file.clone(), diag.primary.span.range()))
        .with_config(Config::default().with_color(color).with_index_type(IndexType::Byte))
        .with_code(diag.code)
        .with_message(&diag.message);
    let mut label = Label::new((file, diag.primary.span.range())).with_color(primary_color);
    if !diag.primary.message.is_empty() {
        label = label.with_message(&diag.primary.message);
    }
    report = report.with_label(label);
    for secondary in &diag.secondary {
        report = report.with_label(
            Label::new((name(secondary.file), secondary.span.range()))
                .with_message(&secondary.message)
                .with_color(Color::Blue),
        );
    }
    if let Some(help) = &diag.help {
        report = report.with_help(help);
    }
    let cache = ariadne::sources(sources.iter().map(|(id, s)| (name(id), s.text.clone())));
    report.finish().write(cache, out)
}

/// Line and column (1-based, column in characters) of a byte offset.
fn line_col(text: &str, offset: u32) -> (usize, usize) {
    let LineCol { line, column } = ward_grammar::lines::line_col(text, offset);
    (line, column)
}

fn label_json(sources: &SourceSet, label: &ward_compiler::Label) -> serde_json::Value {
    let source = sources.get(label.file);
    let text = source.map_or("", |s| s.text.as_str());
    let (line, column) = line_col(text, label.span.start);
    let (end_line, end_column) = line_col(text, label.span.end);
    serde_json::json!({
        "file": source.map(|s| s.path.as_str()),
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "start": label.span.start,
        "end": label.span.end,
        "message": label.message,
    })
}

/// Writes `diag` as one line of JSON: the primary location's fields at the
/// top level, then the code, message, label, secondary labels and help.
pub fn json(out: &mut dyn Write, sources: &SourceSet, diag: &Diagnostic) -> std::io::Result<()> {
    let mut object = match label_json(sources, &diag.primary) {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    object.remove("message");
    object.insert("code".into(), diag.code.into());
    object.insert("severity".into(), diag.severity.as_str().into());
    object.insert("message".into(), diag.message.clone().into());
    object.insert("label".into(), diag.primary.message.clone().into());
    let secondary: Vec<serde_json::Value> = diag.secondary.iter().map(|l| label_json(sources, l)).collect();
    object.insert("secondary".into(), secondary.into());
    object.insert("help".into(), diag.help.clone().into());
    writeln!(out, "{}", serde_json::Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
