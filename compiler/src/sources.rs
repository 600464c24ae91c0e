//! The texts a compilation works on, loaded from bytes.

use ward_grammar::Span;

use crate::db::Origin;
use crate::{Diagnostic, FileId};

/// Larger files are refused with a diagnostic: no policy is this big, and the
/// limit keeps a stray binary from costing memory and time.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024 * 1024;

/// One source file: where it came from and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as the user gave it (used in messages).
    pub path: String,
    /// The text; for a file that is not UTF-8, its lossy conversion (so that
    /// the diagnostic can still show where the bad bytes are).
    pub text: String,
    /// Set when the file could not be used at all (not UTF-8, too large).
    pub load_error: Option<Diagnostic>,
    /// The project's own file, or a standard-library module.
    pub origin: Origin,
}

/// The files of one compilation, addressed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceSet {
    files: Vec<Source>,
}

impl SourceSet {
    /// Adds a file from its raw bytes. Bytes that are not UTF-8, or too many
    /// of them, become a diagnostic on the file rather than an error here.
    pub fn add_bytes(&mut self, path: impl Into<String>, bytes: &[u8]) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        let path = path.into();
        let source = if bytes.len() > MAX_SOURCE_BYTES {
            let message = format!(
                "file too large: {} bytes; Ward reads policy files of at most {} MiB",
                bytes.len(),
                MAX_SOURCE_BYTES / (1024 * 1024)
            );
            Source {
                path,
                text: String::new(),
                load_error: Some(Diagnostic::error("E0012", id, Span::default(), message)),
                origin: Origin::User,
            }
        } else {
            match std::str::from_utf8(bytes) {
                Ok(text) => Source { path, text: text.to_string(), load_error: None, origin: Origin::User },
                Err(e) => {
                    let at = e.valid_up_to();
                    // The lossy text keeps the valid prefix byte for byte and
                    // puts U+FFFD (3 bytes) where the first bad sequence was.
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    let span = Span::new(at, (at + 3).min(text.len()));
                    let diag = Diagnostic::error(
                        "E0011",
                        id,
                        span,
                        format!("file is not valid UTF-8 (first bad byte at offset {at})"),
                    )
                    .with_label("invalid UTF-8 here")
                    .with_help("Ward source files must be UTF-8 text");
                    Source { path, text, load_error: Some(diag), origin: Origin::User }
                }
            }
        };
        self.files.push(source);
        id
    }

    /// Adds Ward's standard-library modules (`import stdlib.pii` resolves to
    /// them). Their diagnostics, if any, point at `stdlib/NAME.ward`.
    pub fn add_stdlib(&mut self) {
        for (module, text) in crate::stdlib::MODULES {
            if self.files.iter().any(|f| f.origin == Origin::Stdlib(module.to_string())) {
                continue;
            }
            self.files.push(Source {
                path: format!("<stdlib>/{module}.ward"),
                text: text.to_string(),
                load_error: None,
                origin: Origin::Stdlib(module.to_string()),
            });
        }
    }

    /// Adds a file from a string.
    pub fn add(&mut self, path: impl Into<String>, text: &str) -> FileId {
        self.add_bytes(path, text.as_bytes())
    }

    pub fn get(&self, id: FileId) -> Option<&Source> {
        self.files.get(id.0 as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &Source)> {
        self.files.iter().enumerate().map(|(i, s)| (FileId(u32::try_from(i).unwrap_or(u32::MAX)), s))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_a_diagnostic_at_the_bad_byte() {
        let mut set = SourceSet::default();
        let id = set.add_bytes("bad.ward", b"policy p {}\n\xff\xfe");
        let source = set.get(id).map(|s| s.load_error.clone());
        let Some(Some(diag)) = source else { unreachable!("expected a load error") };
        assert_eq!(diag.code, "E0011");
        assert_eq!(diag.primary.span.start, 12);
    }

    #[test]
    fn clean_text_has_no_load_error() {
        let mut set = SourceSet::default();
        let id = set.add("ok.ward", "policy p {}");
        assert!(set.get(id).is_some_and(|s| s.load_error.is_none()));
    }
}
