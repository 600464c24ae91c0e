//! Helpers for the analysis tests: the solver (required: a missing solver
//! fails the test unless WARD_ALLOW_SKIP names `smt`), programs from text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ward_analyze::analyze::AnalyzeReport;
use ward_analyze::diff::{ActionDiff, DiffReport};
use ward_analyze::query::Outcome;
use ward_analyze::solver::Solver;
use ward_compiler::ir::Program;
use ward_compiler::lower::Compiled;

/// The SMT solver, or `None` (announced) when it is missing and
/// `WARD_ALLOW_SKIP` names `smt`; otherwise a missing solver fails the test.
pub fn solver() -> Option<Solver> {
    solver_named(None)
}

pub fn solver_named(name: Option<&str>) -> Option<Solver> {
    match Solver::locate(name, Duration::from_secs(30)) {
        Ok(s) => Some(s),
        Err(e) => {
            ward_testkit::missing(
                "smt",
                &e.to_string(),
                "scripts/test provisions z3 and cvc5 (scripts/provision/smt.sh)",
            );
            None
        }
    }
}

pub fn compiled(schema: &str, policy: &str) -> Compiled {
    ward_analyze::compile_sources(&[("schema.ward".into(), schema.into()), ("policy.ward".into(), policy.into())])
        .unwrap_or_else(|e| panic!("does not compile:\n{e}"))
}

pub fn program(schema: &str, policy: &str) -> Arc<Program> {
    Arc::new(compiled(schema, policy).program)
}

pub fn diff(solver: &Solver, schema: &str, old: &str, new: &str) -> DiffReport {
    let report = ward_analyze::diff::diff(solver, program(schema, old), program(schema, new)).unwrap();
    assert!(report.bugs().is_empty(), "encoding bugs: {:?}", report.bugs());
    report
}

pub fn action<'a>(r: &'a DiffReport, name: &str) -> &'a ActionDiff {
    r.actions.iter().find(|a| a.action == name).unwrap_or_else(|| panic!("no action {name}"))
}

pub fn analyze(solver: &Solver, schema: &str, policy: &str) -> AnalyzeReport {
    let c = compiled(schema, policy);
    let report = ward_analyze::analyze::analyze(solver, Arc::new(c.program), &c.asserts, &[]).unwrap();
    assert!(report.bugs().is_empty(), "encoding bugs: {:?}", report.bugs());
    report
}

pub fn found(o: &Outcome) -> &ward_analyze::query::Example {
    match o {
        Outcome::Found(e) => e,
        other => panic!("expected a replayed example, got {other:?}"),
    }
}

pub fn none(o: &Outcome) {
    assert!(o.is_none(), "expected a proof that there is none, got {o:?}");
}

/// The assert named `name`'s result.
pub fn assert_result<'a>(r: &'a AnalyzeReport, name: &str) -> &'a str {
    r.asserts.iter().find(|a| a.name == name).map(|a| a.result.as_str()).unwrap_or_else(|| panic!("no assert {name}"))
}
