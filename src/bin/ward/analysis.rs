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
    /// Always exit 0 once the comparison ran.
    Never,
}

fn with_schema(paths: &PathBuf, schema: &[PathBuf]) -> Vec<PathBuf> {
    let mut all = vec![paths.clone()];
    all.extend(schema.iter().cloned());
    all
}

pub fn diff(old: &PathBuf, new: &PathBuf, schema: &[PathBuf], format: ReportFormat, fail_on: FailOn, solver: &SolverArgs) -> ExitCode {
    let solver = match solver.solver() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut programs = Vec::new();
    for (label, path) in [("old", old), ("new", new)] {
        match compile(&with_schema(path, schema), &Options::default()) {
            Ok(c) => programs.push(Arc::new(c.program)),
            Err(_) => {
                eprintln!("error: the {label} policy ({}) does not compile; nothing was compared", path.display());
                return ExitCode::from(USAGE);
            }
        }
    }
    let (Some(o), Some(n)) = (programs.first().cloned(), programs.get(1).cloned()) else { return ExitCode::from(USAGE) };
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
    for bug in report.bugs() {
        eprintln!("error: {bug}");
    }
    let failed = match fail_on {
        FailOn::Widen => report.widens(),
        FailOn::Change => report.changes(),
        FailOn::Never => false,
    };
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
