//! Ward's compiler: from source files to checked programs.
//!
//! Parsing, name resolution, type checking and the analyses run as salsa
//! queries over position-independent units (see [`units`]), so that after an
//! edit only what depends on the edited rule is recomputed.
//!
//! API boundary: a [`SourceSet`] (or a [`Workspace`] for incremental use) in,
//! [`Diagnostic`] values out. Nothing here prints; rendering belongs to the
//! CLI and the LSP.

pub mod analysis;
pub mod check;
pub mod config;
pub mod db;
mod diagnostic;
pub mod ide;
pub mod lower;
pub mod names;
pub mod schema;
mod sources;
mod stdlib;
pub mod symbols;
pub mod types;
pub mod units;
mod workspace;

pub use db::{Options, Origin};
pub use diagnostic::{Diagnostic, FileId, Label, Severity};
pub use sources::{MAX_SOURCE_BYTES, Source, SourceSet};
pub use ward_grammar::Span;
pub use ward_ir::{self as ir, closest, did_you_mean, literals, suggest};
pub use workspace::Workspace;

/// Compiles `sources` to a decision program and its tests. Refuses (with the
/// diagnostics) when anything has an error; on success also returns the
/// warnings.
pub fn compile(sources: &SourceSet, options: &Options) -> Result<(lower::Compiled, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut workspace = Workspace::new(options.clone());
    let mut load_errors = Vec::new();
    for (_, source) in sources.iter() {
        let text = if source.load_error.is_some() { "" } else { source.text.as_str() };
        workspace.add_file(&source.path, text, source.origin.clone());
        load_errors.extend(source.load_error.iter().cloned());
    }
    if !load_errors.is_empty() {
        return Err(load_errors);
    }
    let compiled = lower::compile(&workspace)?;
    let warnings = workspace.diagnostics();
    Ok((compiled, warnings))
}

/// Checks every file of `sources` (add the standard library first with
/// [`SourceSet::add_stdlib`]) and returns the diagnostics, ordered by file
/// and position.
pub fn check(sources: &SourceSet, options: &Options) -> Vec<Diagnostic> {
    let mut workspace = Workspace::new(options.clone());
    let mut out = Vec::new();
    for (id, source) in sources.iter() {
        // Files that could not be read still take their place, so that ids match.
        let text = if source.load_error.is_some() { "" } else { source.text.as_str() };
        let added = workspace.add_file(&source.path, text, source.origin.clone());
        debug_assert_eq!(added, id);
        out.extend(source.load_error.iter().cloned());
    }
    out.extend(workspace.diagnostics());
    out.sort_by_key(|d| (d.primary.file, d.primary.span.start, d.severity));
    out
}
