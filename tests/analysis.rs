//! `ward diff`, `ward analyze` and asserts in `ward test`, through the real
//! binary: exit codes, the Markdown and JSON reports (golden), errors.
//! These need z3 (scripts/test provisions it, scripts/provision/smt.sh);
//! without it they fail, unless WARD_ALLOW_SKIP names `smt`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/analysis")
}

/// Runs `ward` in the data folder (paths in reports are relative).
fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .current_dir(data())
        .env("NO_COLOR", "1")
        .output()
        .expect("run ward")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether the tests can run: z3 (the golden outputs are z3's models), or
/// an announced skip when WARD_ALLOW_SKIP names `smt`.
fn solver_present() -> bool {
    match ward_analyze::solver::Solver::locate(Some("z3"), std::time::Duration::from_secs(10)) {
        Ok(_) => true,
        Err(e) => {
            ward_testkit::missing("smt", &e.to_string(), "scripts/test provisions z3 (scripts/provision/smt.sh)");
            false
        }
    }
}

/// `ward` with z3 as the solver: the counterexamples in golden outputs are
/// the models z3 finds (deterministic for one input and one z3 version).
fn ward_z3(args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--solver", "z3"]);
    ward(&all)
}

/// The report without what varies between runs and machines: the solver's
/// version and path, the time taken, and the order of JSON keys (which
/// follows serde_json's `preserve_order` feature, on in some builds).
fn markdown(o: &Output) -> String {
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    let text = stdout(o);
    for line in text.lines() {
        match (&mut block, line) {
            (None, "```json") => block = Some(Vec::new()),
            (Some(lines), "```") => {
                let mut v: serde_json::Value = serde_json::from_str(&lines.join("\n")).unwrap();
                sorted(&mut v);
                out.push("```json".to_string());
                out.push(serde_json::to_string_pretty(&v).unwrap());
                out.push("```".to_string());
                block = None;
            }
            (Some(lines), l) => lines.push(l),
            (None, l) if l.starts_with("<sub>Proved by") => out.push("<sub>Proved by SOLVER in N ms, …</sub>".into()),
            (None, l) => out.push(l.to_string()),
        }
    }
    out.join("\n")
}

fn sorted(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sorted);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sorted),
        _ => {}
    }
}

fn json(o: &Output) -> serde_json::Value {
    fn scrub(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("solver");
                map.remove("elapsed_ms");
                map.values_mut().for_each(scrub);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)));
    scrub(&mut v);
    sorted(&mut v);
    v
}

#[test]
fn diff_reports_a_widening_in_markdown() {
    if !solver_present() {
        return;
    }
    let out = ward_z3(&["diff", "old.ward", "new.ward", "--schema", "schema.ward"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("diff_markdown", markdown(&out));
}

#[test]
fn diff_reports_in_json_and_fails_ci_on_widening() {
    if !solver_present() {
        return;
    }
    let out =
        ward_z3(&["diff", "old.ward", "new.ward", "--schema", "schema.ward", "--format", "json", "--fail-on", "widen"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_json_snapshot!("diff_json", json(&out));
}

#[test]
fn diff_of_identical_policies_passes_every_gate() {
    if !solver_present() {
        return;
    }
    let out = ward(&["diff", "old.ward", "old.ward", "--schema", "schema.ward", "--fail-on", "change"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("No widening"), "{}", stdout(&out));
    // The reverse change only narrows (decisions and masks tighten): it
    // passes `--fail-on widen` and fails `--fail-on change`.
    let out = ward(&["diff", "new.ward", "old.ward", "--schema", "schema.ward", "--fail-on", "widen"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("No widening") && stdout(&out).contains("2 actions narrowed"), "{}", stdout(&out));
    let out = ward(&["diff", "new.ward", "old.ward", "--schema", "schema.ward", "--fail-on", "change"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn analyze_proves_and_refutes_asserts() {
    if !solver_present() {
        return;
    }
    let out = ward_z3(&["analyze", "old.ward", "schema.ward"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    insta::assert_snapshot!("analyze_old_markdown", markdown(&out));
    let out = ward_z3(&["analyze", "new.ward", "schema.ward", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_json_snapshot!("analyze_new_json", json(&out));
}

#[test]
fn ward_test_counts_asserts() {
    if !solver_present() {
        return;
    }
    let out = ward(&["test", "old.ward", "schema.ward"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("ok      assert \"deletes need a supervisor\""), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("1 passed, 0 failed\n"), "{}", stdout(&out));
    let out = ward(&["test", "new.ward", "schema.ward"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("FAILED  assert \"deletes need a supervisor\"  (new.ward:21:1)"), "{text}");
    assert!(text.contains("\"reason\": \"gdpr\""), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
}

#[test]
fn a_missing_solver_is_a_clear_error_never_a_pass() {
    let out = ward(&["diff", "old.ward", "new.ward", "--schema", "schema.ward", "--solver", "/nonexistent/z3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot run the SMT solver `/nonexistent/z3`"), "{}", stderr(&out));
    let out = ward(&["test", "old.ward", "schema.ward", "--solver", "/nonexistent/z3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("cannot be checked: cannot run the SMT solver"), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("0 passed, 1 failed\n"), "{}", stdout(&out));
}

#[test]
fn a_policy_that_does_not_compile_is_refused_before_any_solver_runs() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("analysis_bad");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.ward");
    std::fs::write(&bad, "policy p { permit when nope }\n").unwrap();
    let bad = bad.to_str().unwrap();
    let out = ward(&["diff", "old.ward", bad, "--schema", "schema.ward", "--solver", "/nonexistent/z3"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the new policy") && stderr(&out).contains("does not compile"), "{}", stderr(&out));
    let out = ward(&["analyze", bad, "schema.ward", "--solver", "/nonexistent/z3"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not compile; nothing was analysed"), "{}", stderr(&out));
}

/// A stand-in for z3 that answers `unknown` to every question: what a
/// timeout looks like. Nothing undecided may pass as proved.
fn undecided_solver() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("analysis_unknown");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("z3");
    let script = "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Z3 version 0 (a stand-in answering unknown)'; exit 0; fi\n\
                  while read -r line; do case \"$line\" in *check-sat*) echo unknown;; esac; done\n";
    std::fs::write(&path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

#[test]
fn an_undecided_question_is_never_a_pass() {
    let fake = undecided_solver();
    let fake = fake.to_str().unwrap();
    // ward diff: not "no widening", and --fail-on widen fails.
    let out =
        ward(&["diff", "old.ward", "new.ward", "--schema", "schema.ward", "--solver", fake, "--fail-on", "widen"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("could not be decided") && !text.contains("No widening"), "{text}");
    assert!(!text.contains("**This change widens access.**"), "an undecided widening is not a fact: {text}");
    let out = ward(&["diff", "old.ward", "old.ward", "--schema", "schema.ward", "--solver", fake, "--format", "json"]);
    assert_eq!(json(&out)["verdict"], "may widen", "{}", stdout(&out));
    // ward analyze: the assert is unknown, which fails.
    let out = ward(&["analyze", "old.ward", "schema.ward", "--solver", fake]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("- **unknown**: \"deletes need a supervisor\""), "{}", stdout(&out));
    // ward test: the assert fails.
    let out = ward(&["test", "old.ward", "schema.ward", "--solver", fake]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("0 passed, 1 failed\n"), "{}", stdout(&out));
}

#[test]
fn analyze_treats_a_result_flow_as_session_history_that_may_be_unknown() {
    if !solver_present() {
        return;
    }
    // The mcp-gateway example forbids external mail after a lookup whose
    // *result* said VIP (docs/language.md §10.1).
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mcp-gateway");
    let out = ward_z3(&["analyze", example.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let report = stdout(&out);
    // Approximated like every flow: checked against an empty history and any
    // history; with any history the flow may be unknown (an unreadable
    // result), so whether `send_email` can fail to evaluate is undecided,
    // never "no".
    assert!(
        report.contains(
            "`crm_gateway.no-external-mail-after-vip-read` (policy): `previously` (session history, from results)"
        ),
        "{report}"
    );
    assert!(report.contains("| `send_email` | allows some requests | **unknown** |"), "{report}");
    assert!(report.contains("| `lookup_customer` | allows some requests | no |"), "{report}");
    // Where the result flow is the only thing that can fail: an unreadable
    // earlier result makes it an error, so "no" would be unsound.
    let out = ward_z3(&["analyze", "result_flow.ward"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("| `send_email` | unknown | **unknown** |"), "{report}");
    assert!(report.contains("| `read_customer` | always allows | no |"), "{report}");
}

/// A budget refuses an amount above it even on a first request, and a
/// negative amount always: the analyzer encodes both exactly, so it proves
/// the three asserts (an order within the budget goes through, on a first
/// request; none above it or below zero does).
#[test]
fn the_analyzer_knows_what_a_budget_refuses_on_a_first_request() {
    if !solver_present() {
        return;
    }
    let out = ward(&["test", "budget.ward"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).ends_with("3 passed, 0 failed\n"), "{}", stdout(&out));
}
