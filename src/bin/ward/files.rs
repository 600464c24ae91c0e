//! Finding the `.ward` files named on the command line.

use std::path::{Path, PathBuf};

/// Expands files and directories (recursively, `*.ward`, hidden folders and
/// `target/` skipped) into a sorted, de-duplicated list of files.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {}", path.display(), describe(&e)))?;
        if meta.is_dir() {
            walk(path, &mut out)
                .map_err(|e| format!("cannot read directory `{}`: {}", path.display(), describe(&e)))?;
        } else {
            out.push(path.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|ext| ext == "ward") {
            out.push(path);
        }
    }
    Ok(())
}

/// An I/O error in words, without Rust's `(os error 2)` noise.
pub fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}
