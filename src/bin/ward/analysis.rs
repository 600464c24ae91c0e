//! `ward diff` and `ward analyze`: argument handling and output; the
//! analyses themselves are in the `ward-analyze` crate.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use ward_analyze::solver::Solver;
use ward_compiler::Options;

use crate::USAGE;
use crate::decide::compile;

/// Which SMT solver, and how long a query may take.
#[derive(clap::Args, Clone)]
pub struct SolverArgs {
    /// The SMT solver: `z3`, `cvc5` or a path to either; default: $WARD_SMT_SOLVER, else z3, else cvc5 on the PATH.
    #[arg(long, value_name = "z3|cvc5|PATH")]
    pub solver: Option<String>,
    /// Seconds one solver query may take before its answer counts as unknown.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
}

impl SolverArgs {
    pub fn solver(&self) -> Result<Solver, ExitCode> {
        Solver::locate(self.solver.as_deref(), Duration::from_secs(self.timeout.max(1))).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(USAGE)
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown, for a pull-request comment or a terminal.
    Markdown,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 1 when the new policy allows (or sends for approval) anything the old one denied,
    /// masks less, drops an obligation or loosens a limit — or when that cannot be ruled out.
    Widen,
    /// Exit 1 on any change of any decision (or when one cannot be ruled out).
    Change,
    /// Exit 0 once the comparison ran (1 only for an encoding bug: a counterexample that did not replay).
    Never,
}

fn with_schema(paths: &std::path::Path, schema: &[PathBuf]) -> Vec<PathBuf> {
    let mut all = vec![paths.to_path_buf()];
    all.extend(schema.iter().cloned());
    all
}

pub fn diff(
    old: &PathBuf,
    new: &PathBuf,
    schema: &[PathBuf],
    format: ReportFormat,
    fail_on: FailOn,
    solver: &SolverArgs,
    project: &crate::ProjectArgs,
) -> ExitCode {
    let mut programs = Vec::new();
    for (label, path) in [("old", old), ("new", new)] {
        // Each version with its own project's settings (they may differ).
        let paths = with_schema(path, schema);
        let settings = match crate::settings(&paths, project, &crate::DenyArgs::default(), Options::default()) {
            Ok(s) => s,
            Err(code) => return code,
        };
        match compile(&paths, &settings) {
            Ok(c) => programs.push(Arc::new(c.program)),
            Err(_) => {
                eprintln!("error: the {label} policy ({}) does not compile; nothing was compared", path.display());
                return ExitCode::from(USAGE);
            }
        }
    }
    let (Some(o), Some(n)) = (programs.first().cloned(), programs.get(1).cloned()) else {
        return ExitCode::from(USAGE);
    };
    let solver = match solver.solver() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match ward_analyze::diff::diff(&solver, o, n) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = match format {
        ReportFormat::Markdown => write!(out, "{}", ward_analyze::report::diff_markdown(&report)),
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
    };
    let bugs = report.bugs();
    for bug in &bugs {
        eprintln!("error: {bug}");
    }
    // An encoding bug fails whatever --fail-on says: the comparison itself
    // went wrong.
    let failed = !bugs.is_empty()
        || match fail_on {
            FailOn::Widen => report.widens(),
            FailOn::Change => report.changes(),
            FailOn::Never => false,
        };
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Rule ids the checker's W0101/W0103 warnings name: `(code, rule id)`.
fn syntactic(warnings: &[ward_compiler::Diagnostic]) -> Vec<(String, String)> {
    warnings
        .iter()
        .filter(|d| d.code == "W0101" || d.code == "W0103")
        .filter_map(|d| {
            let rest = d.message.strip_prefix('`')?;
            let id = rest.split('`').next()?;
            Some((d.code.to_string(), id.to_string()))
        })
        .collect()
}

pub fn analyze(paths: &[PathBuf], format: ReportFormat, solver: &SolverArgs, settings: &crate::Settings) -> ExitCode {
    let (mut sources, _) = match crate::load(paths) {
        Ok(x) => x,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    sources.add_stdlib();
    let (compiled, warnings) = match ward_compiler::compile(&sources, &settings.options) {
        Ok(x) => x,
        Err(diags) => {
            crate::print_diagnostics(&sources, &diags, crate::Format::Human);
            eprintln!("error: the policy does not compile; nothing was analysed");
            return ExitCode::from(USAGE);
        }
    };
    let solver = match solver.solver() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match ward_analyze::analyze::analyze(
        &solver,
        Arc::new(compiled.program),
        &compiled.asserts,
        &syntactic(&warnings),
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = match format {
        ReportFormat::Markdown => write!(out, "{}", ward_analyze::report::analyze_markdown(&report)),
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
    };
    for bug in report.bugs() {
        eprintln!("error: {bug}");
    }
    if report.failed_asserts() > 0 || !report.bugs().is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The asserts of a compiled project, for `ward test`: `(passed, failed)`,
/// each printed as a test line.
pub fn test_asserts(
    out: &mut dyn Write,
    program: &Arc<ward_compiler::ir::Program>,
    asserts: &[ward_compiler::lower::Assertion],
    solver: &SolverArgs,
) -> (usize, usize) {
    if asserts.is_empty() {
        return (0, 0);
    }
    let fail_all = |out: &mut dyn Write, why: &str| {
        for a in asserts {
            let _ = writeln!(out, "FAILED  assert \"{}\"  ({})", a.name, a.location);
            let _ = writeln!(out, "  cannot be checked: {why}");
        }
        (0, asserts.len())
    };
    let solver = match Solver::locate(solver.solver.as_deref(), Duration::from_secs(solver.timeout.max(1))) {
        Ok(s) => s,
        Err(e) => return fail_all(out, &e.to_string()),
    };
    let results = match ward_analyze::analyze::check_asserts(&solver, Arc::clone(program), asserts) {
        Ok(r) => r,
        Err(e) => return fail_all(out, &e.to_string()),
    };
    let (mut passed, mut failed) = (0, 0);
    for r in &results {
        if r.result == "holds" {
            passed += 1;
            let _ = writeln!(out, "ok      assert \"{}\"", r.name);
            continue;
        }
        failed += 1;
        let _ = writeln!(out, "FAILED  assert \"{}\"  ({})", r.name, r.location);
        let _ = writeln!(out, "  {}: {}", r.result, r.statement);
        match &r.outcome {
            ward_analyze::query::Outcome::Found(e) => {
                let mut text = String::new();
                ward_analyze::report::example(&mut text, e, &["policy"]);
                for line in text.lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
            ward_analyze::query::Outcome::Unknown { reason, .. } => {
                let _ = writeln!(out, "  {reason}");
            }
            ward_analyze::query::Outcome::None => {}
        }
    }
    (passed, failed)
}
