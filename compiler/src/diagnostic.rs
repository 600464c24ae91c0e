//! Diagnostics as plain values: produced by the compiler's passes, rendered
//! only at the edges (the CLI with ariadne or as JSON, the LSP as protocol
//! messages).

use serde::Serialize;
use ward_grammar::{Span, SyntaxError};

/// Which file of a [`crate::SourceSet`] a span points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A span in a file with the text shown beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub file: FileId,
    pub span: Span,
    pub message: String,
}

/// One finding: a stable code (`E0001`, `W0101`), a severity, a message, the
/// primary span with its label, secondary labels and an optional help text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, file: FileId, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label { file, span, message: String::new() },
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.primary.message = label.into();
        self
    }

    pub fn with_secondary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label { file, span, message: message.into() });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// A syntax error from the parser, placed in `file`.
    pub fn from_syntax(file: FileId, e: &SyntaxError) -> Diagnostic {
        Diagnostic {
            code: e.code,
            severity: Severity::Error,
            message: e.message.clone(),
            primary: Label { file, span: e.span, message: e.label.clone() },
            secondary: e
                .related
                .iter()
                .map(|(span, message)| Label { file, span: *span, message: message.clone() })
                .collect(),
            help: e.help.clone(),
        }
    }
}
