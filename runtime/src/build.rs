//! Building an engine straight from policy files: what an embedder calls.

use std::path::Path;
use std::sync::Arc;

use ward_compiler::config::ProjectConfig;
use ward_compiler::{Options, Severity, SourceSet};

use crate::engine::{Backend, Clock, Engine, Loaded, SystemClock};
use crate::store::Store;

/// Why an engine could not be built.
#[derive(Debug)]
pub enum BuildError {
    Io {
        path: String,
        message: String,
    },
    /// The policy has errors, each as `ward check` shows it ([`render_diagnostic`]).
    Policy(String),
    Entities(crate::data::DataError),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Io { path, message } => write!(f, "cannot read `{path}`: {message}"),
            BuildError::Policy(errors) => write!(f, "the policy has errors:\n{errors}"),
            BuildError::Entities(e) => write!(f, "entities: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

fn collect(path: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            // Inside a directory only `.ward` files and subdirectories count.
            if p.is_dir() || p.extension().is_some_and(|x| x == "ward") {
                collect(&p, out)?;
            }
        }
    } else {
        // A file named explicitly is a policy file, whatever its name.
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Line and column (1-based; the column in characters) of byte `offset` of `text`.
fn line_col(text: &str, offset: u32) -> (usize, usize) {
    let offset = (offset as usize).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (before.matches('\n').count() + 1, column)
}

/// A diagnostic as `ward check` reports it, in plain text: where
/// (`file:line:col`), the code and message, the line with the span marked,
/// the label and the help.
pub fn render_diagnostic(sources: &SourceSet, d: &ward_compiler::Diagnostic) -> String {
    let source = sources.get(d.primary.file);
    let path = source.map_or("?", |s| s.path.as_str());
    let text = source.map_or("", |s| s.text.as_str());
    let (line, column) = line_col(text, d.primary.span.start);
    let severity = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    };
    let mut out = format!("{path}:{line}:{column}: {severity}[{}]: {}", d.code, d.message);
    if let Some(source_line) = text.lines().nth(line.saturating_sub(1)) {
        let shown: String = source_line.chars().take(200).collect();
        let width = text
            .get(d.primary.span.start as usize..d.primary.span.end as usize)
            .map_or(1, |s| s.lines().next().unwrap_or("").chars().count().max(1));
        let gutter = line.to_string().len();
        out.push_str(&format!(
            "\n{:gutter$} |\n{line} | {shown}\n{:gutter$} | {}{}",
            "",
            "",
            " ".repeat(column - 1),
            "^".repeat(width.min(200))
        ));
        if !d.primary.message.is_empty() {
            out.push(' ');
            out.push_str(&d.primary.message);
        }
    }
    if let Some(help) = &d.help {
        out.push_str(&format!("\n  = help: {help}"));
    }
    out
}

/// Compiles the `.ward` files at `paths` (files or directories) and loads
/// `entities`: the policy set an [`Engine`] decides with, or why not. A path
/// that does not exist, or paths without a single `.ward` file, are errors
/// (an empty policy would deny everything, silently).
pub fn loaded_from_paths(
    paths: &[impl AsRef<Path>],
    entities: &serde_json::Value,
    backend: Backend,
) -> Result<Loaded, BuildError> {
    loaded_from_paths_with(paths, entities, backend, None)
}

/// [`loaded_from_paths`] with the project's `ward.toml` (found by walking up
/// from `paths`) and, over it, `max_window_ms` (`--max-window`).
pub fn loaded_from_paths_with(
    paths: &[impl AsRef<Path>],
    entities: &serde_json::Value,
    backend: Backend,
    max_window_ms: Option<i64>,
) -> Result<Loaded, BuildError> {
    let program = program_from_paths(paths, max_window_ms)?;
    let store = Store::load(Arc::clone(&program), entities).map_err(BuildError::Entities)?;
    Ok(Loaded::new(program, store, backend == Backend::Jit))
}

/// [`loaded_from_paths_with`] for a reload: when `previous` holds the same
/// program (only the entities changed), its native code, buckets and
/// detectors are reused ([`Loaded::new_reusing`]).
pub fn reloaded_from_paths(
    paths: &[impl AsRef<Path>],
    entities: &serde_json::Value,
    backend: Backend,
    max_window_ms: Option<i64>,
    previous: &Loaded,
) -> Result<Loaded, BuildError> {
    let program = program_from_paths(paths, max_window_ms)?;
    let store = Store::load(Arc::clone(&program), entities).map_err(BuildError::Entities)?;
    Ok(Loaded::new_reusing(program, store, backend == Backend::Jit, previous))
}

/// The program the `.ward` files at `paths` compile to.
fn program_from_paths(
    paths: &[impl AsRef<Path>],
    max_window_ms: Option<i64>,
) -> Result<Arc<ward_ir::Program>, BuildError> {
    let config = ProjectConfig::for_paths(paths).map_err(BuildError::Policy)?;
    let mut options = config.options(Options::default());
    if let Some(ms) = max_window_ms {
        options.max_window_ms = ms;
    }
    let mut files = Vec::new();
    for p in paths {
        collect(p.as_ref(), &mut files)
            .map_err(|e| BuildError::Io { path: p.as_ref().display().to_string(), message: e.to_string() })?;
    }
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| format!("`{}`", p.as_ref().display())).collect();
        return Err(BuildError::Io {
            path: shown.join(", "),
            message: "no `.ward` files there (an empty policy is refused: it would deny everything)".to_string(),
        });
    }
    let mut sources = SourceSet::default();
    for f in &files {
        let bytes =
            std::fs::read(f).map_err(|e| BuildError::Io { path: f.display().to_string(), message: e.to_string() })?;
        sources.add_bytes(f.display().to_string(), &bytes);
    }
    sources.add_stdlib();
    let (compiled, _) = ward_compiler::compile(&sources, &options).map_err(|diags| {
        let shown: Vec<String> =
            diags.iter().filter(|d| d.severity == Severity::Error).map(|d| render_diagnostic(&sources, d)).collect();
        BuildError::Policy(shown.join("\n\n"))
    })?;
    Ok(Arc::new(compiled.program))
}

impl Engine {
    /// Compiles the `.ward` files at `paths` (files or directories), loads
    /// `entities` (Cedar's JSON entity format) and returns an engine using
    /// the JIT and the system clock.
    pub fn from_paths(paths: &[impl AsRef<Path>], entities: &serde_json::Value) -> Result<Engine, BuildError> {
        Engine::from_paths_with(paths, entities, Backend::Jit, Arc::new(SystemClock))
    }

    pub fn from_paths_with(
        paths: &[impl AsRef<Path>],
        entities: &serde_json::Value,
        backend: Backend,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, BuildError> {
        Ok(Engine::new(loaded_from_paths(paths, entities, backend)?, clock, backend))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn errors_name_the_line_and_column() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 0), (1, 1));
        let dir = std::env::temp_dir().join(format!("ward-build-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let missing = Engine::from_paths(&[dir.join("nope")], &serde_json::json!([])).err().unwrap().to_string();
        assert!(missing.contains("nope"), "{missing}");
        let empty = Engine::from_paths(&[&dir], &serde_json::json!([])).err().unwrap().to_string();
        assert!(empty.contains("no `.ward` files"), "{empty}");
        std::fs::write(
            dir.join("p.ward"),
            "schema s {\n  entity U\n  action read by [U] on [U]\n}\npolicy p {\n  permit action: raed\n}\n",
        )
        .unwrap();
        let bad = Engine::from_paths(&[&dir], &serde_json::json!([])).err().unwrap().to_string();
        assert!(bad.contains("p.ward:6:18: error[E0102]"), "{bad}");
        assert!(bad.contains("^^^^") && bad.contains("help:"), "{bad}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
