//! Building an engine straight from policy files: what an embedder calls.

use std::path::Path;
use std::sync::Arc;

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
    /// The policy has errors: `file:line:col CODE message`, one per line.
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
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            collect(&e.path(), out)?;
        }
    } else if path.extension().is_some_and(|e| e == "ward") {
        out.push(path.to_path_buf());
    }
    Ok(())
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
        let mut files = Vec::new();
        for p in paths {
            collect(p.as_ref(), &mut files)
                .map_err(|e| BuildError::Io { path: p.as_ref().display().to_string(), message: e.to_string() })?;
        }
        let mut sources = SourceSet::default();
        for f in &files {
            let bytes = std::fs::read(f)
                .map_err(|e| BuildError::Io { path: f.display().to_string(), message: e.to_string() })?;
            sources.add_bytes(f.display().to_string(), &bytes);
        }
        sources.add_stdlib();
        let (compiled, _) = ward_compiler::compile(&sources, &Options::default()).map_err(|diags| {
            let lines: Vec<String> = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| {
                    let path = sources.get(d.primary.file).map_or("?", |s| s.path.as_str());
                    format!("{path}@{}: {} {}", d.primary.span.start, d.code, d.message)
                })
                .collect();
            BuildError::Policy(lines.join("\n"))
        })?;
        let program = Arc::new(compiled.program);
        let store = Store::load(Arc::clone(&program), entities).map_err(BuildError::Entities)?;
        Ok(Engine::new(Loaded::new(program, store, backend == Backend::Jit), clock, backend))
    }
}
