//! `ward analyze` and `ward diff` on generated policy sets of 10, 100 and
//! 1,000 rules (`benches/support/project.rs`, the generator the other
//! benchmarks use), with z3 and with cvc5: compile, encode, solve, replay —
//! what the commands do, minus printing. The diff compares the set with the
//! same set after a one-rule change (rule `r1`'s threshold raised: at 10
//! and 100 rules a widening, which the diff must find and replay; at 1,000
//! rules `r101` already allows those requests, and the diff proves none).
//!
//! `cargo bench --bench analysis` measures 10 and 100 rules; set
//! `WARD_BENCH_ANALYSIS_RULES=10,100,1000` for more (one 1,000-rule sample
//! takes minutes). In test mode (`cargo test --all-targets`, no `--bench`)
//! it runs 10 rules once per solver and checks the results.
//! `WARD_BENCH_ANALYSIS_WRITE=DIR` writes the generated projects to `DIR`
//! (`DIR/N/{schema.ward,old/,new/}`) for timing the `ward` binary, and exits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use ward_analyze::query::Outcome;
use ward_analyze::solver::Solver;

#[allow(dead_code)]
#[path = "support/project.rs"]
mod project;

/// The edited rule: `r1` (`permit … act1 … when resource.region == eu && context.amount < 101`).
const EDITED: usize = 1;
/// Its threshold goes from 101 to 151.
const VARIANT: usize = 50;
/// Per query, as `ward`'s default `--timeout`.
const TIMEOUT: Duration = Duration::from_secs(10);

fn files(rules: usize, edited: bool) -> Vec<(String, String)> {
    let mut out = vec![("schema.ward".to_string(), project::schema())];
    for (f, (path, text)) in project::policies(rules).into_iter().enumerate() {
        let text =
            if edited && f == EDITED / 100 { project::policy_with_edit(rules, f, EDITED, VARIANT) } else { text };
        out.push((path, text));
    }
    out
}

/// `ward analyze`: compile, then every analysis.
fn analyze(solver: &Solver, files: &[(String, String)]) -> ward_analyze::analyze::AnalyzeReport {
    let c = ward_analyze::compile_sources(files).unwrap();
    ward_analyze::analyze::analyze(solver, Arc::new(c.program), &c.asserts, &[]).unwrap()
}

/// `ward diff`: compile both, then compare.
fn diff(solver: &Solver, old: &[(String, String)], new: &[(String, String)]) -> ward_analyze::diff::DiffReport {
    let o = ward_analyze::compile_program(old).unwrap();
    let n = ward_analyze::compile_program(new).unwrap();
    ward_analyze::diff::diff(solver, o, n).unwrap()
}

fn solvers() -> Vec<(&'static str, Solver)> {
    let mut out = Vec::new();
    for name in ["z3", "cvc5"] {
        match Solver::locate(Some(name), TIMEOUT) {
            Ok(s) => out.push((name, s)),
            Err(e) => ward_testkit::missing("smt", &e.to_string(), "scripts/provision/smt.sh installs z3 and cvc5"),
        }
    }
    out
}

/// What one run decided, for the log and for test mode's checks.
fn summary(a: &ward_analyze::analyze::AnalyzeReport, d: &ward_analyze::diff::DiffReport) -> String {
    let undecided = a.actions.iter().filter(|x| x.verdict == "unknown").count();
    let widened: Vec<&str> =
        d.actions.iter().filter(|x| x.widened.found().is_some()).map(|x| x.action.as_str()).collect();
    let open = d.actions.iter().filter(|x| matches!(x.widened, Outcome::Unknown { .. })).count();
    format!(
        "analyze: {} actions, {undecided} undecided, {} rule findings; diff: verdict `{}`, widened {widened:?}, {open} undecided",
        a.actions.len(),
        a.rules.len(),
        d.verdict
    )
}

fn sizes(bench_mode: bool) -> Vec<usize> {
    if !bench_mode {
        return vec![10];
    }
    match std::env::var("WARD_BENCH_ANALYSIS_RULES") {
        Ok(list) => list.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => vec![10, 100],
    }
}

fn write_projects(dir: &Path) {
    for rules in [10, 100, 1_000] {
        let root = dir.join(rules.to_string());
        for (side, edited) in [("old", false), ("new", true)] {
            for (path, text) in files(rules, edited) {
                let target = if path == "schema.ward" { root.join(&path) } else { root.join(side).join(&path) };
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(&target, text).unwrap();
            }
        }
    }
}

fn main() {
    if let Some(dir) = std::env::var_os("WARD_BENCH_ANALYSIS_WRITE") {
        write_projects(Path::new(&dir));
        return;
    }
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    for rules in sizes(bench_mode) {
        let (old, new) = (files(rules, false), files(rules, true));
        let mut group = c.benchmark_group(format!("analysis_{rules}_rules"));
        group.sample_size(10);
        for (name, solver) in solvers() {
            let t0 = Instant::now();
            let a = analyze(&solver, &old);
            let t1 = Instant::now();
            let d = diff(&solver, &old, &new);
            eprintln!(
                "{rules} rules, {} ({name}): one run: analyze {} ms, diff {} ms; {}",
                solver.version,
                (t1 - t0).as_millis(),
                t1.elapsed().as_millis(),
                summary(&a, &d)
            );
            assert!(d.bugs().is_empty() && a.bugs().is_empty(), "encoding bugs: {:?} {:?}", d.bugs(), a.bugs());
            if !bench_mode {
                // The one-rule change widens `act1` (amounts from 101 to 150
                // are newly allowed) and nothing else: the diff must find it
                // and replay it, and prove every other action unchanged. (In
                // bench mode a query may time out; the summary says so.)
                let act1 = d.actions.iter().find(|x| x.action == "act1").unwrap();
                assert!(
                    act1.widened.found().is_some(),
                    "{name}: the widening of act1 was not found: {:?}",
                    act1.widened
                );
                assert!(d.actions.iter().filter(|x| x.action != "act1").all(|x| x.widened.is_none()), "{name}");
                assert!(a.actions.iter().all(|x| x.verdict != "unknown"), "{name}: {}", summary(&a, &d));
                continue;
            }
            group.bench_function(BenchmarkId::new("analyze", name), |b| b.iter(|| analyze(&solver, &old)));
            group.bench_function(BenchmarkId::new("diff_one_rule_changed", name), |b| {
                b.iter(|| diff(&solver, &old, &new))
            });
        }
        group.finish();
    }
    c.final_summary();
}
