//! `ward.toml`: a project's settings, and the boundary of its program.
//!
//! The file sits at a project's root and is found like `Cargo.toml`, by
//! walking up from a policy path. Every command that compiles policies, and
//! the language server, read it; command-line flags override it. The schema
//! is small on purpose:
//!
//! ```toml
//! [check]
//! max_window = "48h"      # the longest flow window (`--max-window`)
//! deny_warnings = true    # warnings fail check, test and build (`--deny warnings`)
//! at = "2026-01-01"       # the date lifecycle warnings compare against (`ward check --at`)
//!
//! [test]
//! at = "2026-01-01T00:00:00Z"  # where test clocks start; eval's default `--at`
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

use crate::db::Options;
use crate::literals;

/// The file's name.
pub const FILE_NAME: &str = "ward.toml";

/// A `ward.toml`, read and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectConfig {
    /// The file (`None` when there is no `ward.toml`: every setting unset).
    pub path: Option<PathBuf>,
    pub max_window_ms: Option<i64>,
    pub deny_warnings: bool,
    /// `[check] at`, days since 1970-01-01.
    pub today: Option<i64>,
    /// `[test] at`, milliseconds since 1970-01-01T00:00:00Z.
    pub test_at_ms: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // `ward serve`'s tables are read only to be accepted
struct Raw {
    #[serde(default)]
    check: RawCheck,
    #[serde(default)]
    test: RawTest,
    // `ward serve --config ward.toml` reads the same file name: its tables
    // are allowed here (and ignored), so that one file can hold both.
    server: Option<IgnoredAny>,
    policy: Option<IgnoredAny>,
    audit: Option<IgnoredAny>,
    mask: Option<IgnoredAny>,
    tokens: Option<IgnoredAny>,
    issuers: Option<IgnoredAny>,
    authzen: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    max_window: Option<Spanned<String>>,
    #[serde(default)]
    deny_warnings: bool,
    at: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTest {
    at: Option<Spanned<String>>,
}

impl ProjectConfig {
    /// The `ward.toml` of the project holding `path` (a file or a directory):
    /// the nearest one in `path`'s directory or above it.
    pub fn find(path: &Path) -> Option<PathBuf> {
        let path = std::path::absolute(path).ok()?;
        let start = if path.is_dir() { path.as_path() } else { path.parent()? };
        start.ancestors().map(|dir| dir.join(FILE_NAME)).find(|file| file.is_file())
    }

    /// The configuration for policies at `paths`: the one `ward.toml` they
    /// share, or none. Paths in different projects are an error (which
    /// settings would apply?).
    pub fn for_paths(paths: &[impl AsRef<Path>]) -> Result<ProjectConfig, String> {
        let mut found: Option<PathBuf> = None;
        for (i, path) in paths.iter().enumerate() {
            let this = ProjectConfig::find(path.as_ref());
            if i > 0 && this != found {
                let name =
                    |f: &Option<PathBuf>| f.as_ref().map_or("none".to_string(), |f| format!("`{}`", f.display()));
                return Err(format!(
                    "the paths belong to different projects ({} and {}); check each project on its own",
                    name(&found),
                    name(&this)
                ));
            }
            found = this;
        }
        match found {
            Some(file) => ProjectConfig::load(&file),
            None => Ok(ProjectConfig::default()),
        }
    }

    /// Reads and checks a `ward.toml`.
    pub fn load(file: &Path) -> Result<ProjectConfig, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
        ProjectConfig::parse(&text, file)
    }

    /// Parses the text of `file`; errors name the file, the line and the key.
    pub fn parse(text: &str, file: &Path) -> Result<ProjectConfig, String> {
        let raw: Raw =
            toml::from_str(text).map_err(|e| format!("`{}`: {}", file.display(), e.to_string().trim_end()))?;
        // A value that is valid TOML but not a valid setting: say where.
        let at = |key: &str, value: &Spanned<String>, e: String| {
            let line = text.get(..value.span().start).map_or(1, |before| before.lines().count().max(1));
            format!("`{}`, line {line}: `{key}`: {e}", file.display())
        };
        let parse = |key: &str, value: &Option<Spanned<String>>, f: fn(&str) -> Result<i64, String>| {
            value.as_ref().map(|v| f(v.get_ref()).map_err(|e| at(key, v, e))).transpose()
        };
        let max_window_ms = parse("check.max_window", &raw.check.max_window, literals::duration_ms)?;
        let today = parse("check.at", &raw.check.at, literals::date_days)?;
        let test_at_ms = parse("test.at", &raw.test.at, |t| {
            literals::time_ms(t).or_else(|_| literals::date_days(t).map(|d| d * 86_400_000))
        })?;
        Ok(ProjectConfig {
            path: Some(file.to_path_buf()),
            max_window_ms,
            deny_warnings: raw.check.deny_warnings,
            today,
            test_at_ms,
        })
    }

    /// The project's root: the directory holding the file.
    pub fn root(&self) -> Option<&Path> {
        self.path.as_deref().and_then(Path::parent)
    }

    /// The checker's options this file asks for (unset ones keep `base`'s).
    pub fn options(&self, base: Options) -> Options {
        Options { today: self.today.or(base.today), max_window_ms: self.max_window_ms.unwrap_or(base.max_window_ms) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_every_key() {
        let text = "[check]\nmax_window = \"48h\"\ndeny_warnings = true\nat = \"2026-03-01\"\n[test]\nat = \"2026-01-02T00:00:00Z\"\n";
        let c = ProjectConfig::parse(text, Path::new("p/ward.toml")).unwrap();
        assert_eq!(c.max_window_ms, Some(48 * 3_600_000));
        assert!(c.deny_warnings);
        assert_eq!(c.today, Some(literals::date_days("2026-03-01").unwrap()));
        assert_eq!(c.test_at_ms, Some(1_767_312_000_000));
        assert_eq!(c.root(), Some(Path::new("p")));
        let empty = ProjectConfig::parse("", Path::new("ward.toml")).unwrap();
        assert_eq!(empty.options(Options::default()), Options::default());
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let e = ProjectConfig::parse("[check]\nmax_windw = \"48h\"\n", Path::new("p/ward.toml")).unwrap_err();
        assert!(e.contains("p/ward.toml") && e.contains("line 2") && e.contains("max_windw"), "{e}");
        let e = ProjectConfig::parse("[check]\n\nmax_window = \"2 days\"\n", Path::new("ward.toml")).unwrap_err();
        assert!(e.contains("ward.toml`, line 3: `check.max_window`"), "{e}");
        assert!(ProjectConfig::parse("[lint]\n", Path::new("ward.toml")).is_err());
    }

    #[test]
    fn a_serve_configuration_may_share_the_file() {
        let text = "[server]\nlisten = \"127.0.0.1:0\"\n[policy]\nbundle = \"b\"\n[[tokens]]\nname = \"x\"\n[check]\nmax_window = \"2h\"\n";
        let c = ProjectConfig::parse(text, Path::new("ward.toml")).unwrap();
        assert_eq!(c.max_window_ms, Some(2 * 3_600_000));
    }
}
