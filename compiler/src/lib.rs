//! Ward's compiler. For now: loading sources, parsing them and reporting
//! diagnostics; name resolution, type checking, analyses and lowering build
//! on this entry point.
//!
//! API boundary: [`SourceSet`] in, [`Diagnostic`] values out. Nothing here
//! prints; rendering belongs to the CLI and the LSP.

mod diagnostic;
mod sources;

pub use diagnostic::{Diagnostic, FileId, Label, Severity};
pub use sources::{MAX_SOURCE_BYTES, Source, SourceSet};

/// Checks every file of `sources` and returns the diagnostics, ordered by
/// file and position.
pub fn check(sources: &SourceSet) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (id, source) in sources.iter() {
        out.extend(source.load_error.iter().cloned());
        if source.load_error.is_some() {
            continue;
        }
        let parse = ward_grammar::parse(&source.text);
        out.extend(parse.errors.iter().map(|e| Diagnostic::from_syntax(id, e)));
    }
    out.sort_by_key(|d| (d.primary.file, d.primary.span.start));
    out
}
