//! A test never skips silently. When what it needs from outside the
//! repository is missing (a `redis-server`, the MCP SDK's virtual
//! environment, the peers' workloads), it fails with what is missing and
//! how to provision it (`scripts/test` does) — unless the documented
//! variable `WARD_ALLOW_SKIP` names that dependency (a comma-separated list,
//! or `all`). Then one line goes straight to the terminal, where `cargo
//! test` shows it even for a passing test, and the test returns.
//!
//! CI sets no such variable.

use std::io::Write as _;

/// The variable that lets tests skip when a named dependency is missing.
pub const ALLOW_SKIP: &str = "WARD_ALLOW_SKIP";

/// Whether `WARD_ALLOW_SKIP` names `dep`.
pub fn skip_allowed(dep: &str) -> bool {
    std::env::var(ALLOW_SKIP).is_ok_and(|v| v.split(',').map(str::trim).any(|d| d == dep || d == "all"))
}

/// Writes a line to the terminal: not through `eprintln!`, which the test
/// harness captures and shows only for failures.
pub fn announce(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// `dep` cannot be used (`problem`); `provision` says how to get it.
/// Panics — failing the test — unless `WARD_ALLOW_SKIP` names `dep`; then
/// announces the skip and returns, and the caller returns too.
#[track_caller]
pub fn missing(dep: &str, problem: &str, provision: &str) {
    if skip_allowed(dep) {
        announce(&format!("SKIPPED ({ALLOW_SKIP} names `{dep}`): {problem}"));
        return;
    }
    #[allow(clippy::panic)]
    {
        panic!("{problem}\n{provision}\n(to skip instead, set {ALLOW_SKIP}={dep}; CI never does)");
    }
}

/// For a dependency a fresh checkout may lack by design (the peers'
/// workloads live outside the repository): skipped with an announced line
/// unless the variable `require` is set (CI sets it), then a failure.
#[track_caller]
pub fn missing_optional(dep: &str, problem: &str, require: &str) {
    if std::env::var_os(require).is_none() {
        announce(&format!("SKIPPED (`{dep}` is optional without {require}): {problem}"));
        return;
    }
    #[allow(clippy::panic)]
    {
        panic!("{problem} ({require} is set, so `{dep}` is required)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_named_dependency_may_be_skipped() {
        // The variable is process-wide; this test reads what CI and the
        // developer set, without changing it.
        let set = std::env::var(ALLOW_SKIP).unwrap_or_default();
        let named = set.split(',').any(|d| d.trim() == "redis" || d.trim() == "all");
        assert_eq!(skip_allowed("redis"), named);
        if !named {
            let caught = std::panic::catch_unwind(|| missing("redis", "no redis-server", "run scripts/test"));
            let message = caught.err().and_then(|e| e.downcast_ref::<String>().cloned()).unwrap_or_default();
            assert!(message.contains("no redis-server") && message.contains("WARD_ALLOW_SKIP=redis"), "{message}");
        }
    }
}
