//! Running `test` blocks: each test gets a fresh engine with a fixed clock;
//! its steps run in order, and each request's decision is compared with its
//! expectations.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value as Json;
use ward_ir::Program;
use ward_ir::test_case::{Expectation, TestCase, TestStep};

use crate::decision::{Decision, Effect, EvalErrorOut};
use crate::engine::{ActionResult, Backend, Engine, FixedClock, Loaded};
use crate::request::Request;
use crate::store::Store;

/// 2026-01-01T00:00:00Z: where a test's clock starts unless it says `at`.
pub const DEFAULT_START_MS: i64 = 1_767_225_600_000;

#[derive(Debug, Clone)]
pub struct Failure {
    /// `file:line:col` of the expectation (or request) that failed.
    pub location: String,
    pub message: String,
    /// Expected and actual decisions, rendered for a diff.
    pub expected: String,
    pub actual: String,
}

#[derive(Debug, Clone)]
pub struct TestResult {
    pub name: String,
    pub location: String,
    pub failures: Vec<Failure>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The rules tests exercised.
#[derive(Debug, Default)]
pub struct Coverage {
    pub exercised: BTreeSet<String>,
    pub all: Vec<String>,
}

impl Coverage {
    pub fn never_exercised(&self) -> Vec<&str> {
        self.all.iter().filter(|r| !self.exercised.contains(*r)).map(String::as_str).collect()
    }
}

/// Runs every test against `program`.
pub fn run(program: &Arc<Program>, tests: &[TestCase], backend: Backend) -> (Vec<TestResult>, Coverage) {
    run_from(program, tests, backend, DEFAULT_START_MS)
}

/// Runs every test against `program`, each clock starting at `start_ms`
/// (a project's `[test] at`) unless the test says `at`.
pub fn run_from(
    program: &Arc<Program>,
    tests: &[TestCase],
    backend: Backend,
    start_ms: i64,
) -> (Vec<TestResult>, Coverage) {
    let mut coverage = Coverage { all: program.rules.iter().map(|r| r.id.clone()).collect(), ..Coverage::default() };
    // Compiled once: each test (and each entities step) pairs its own
    // entities with the same native code.
    let base =
        Store::empty(Arc::clone(program)).ok().map(|s| Loaded::new(Arc::clone(program), s, backend == Backend::Jit));
    let results = tests.iter().map(|t| run_one(program, base.as_ref(), t, backend, start_ms, &mut coverage)).collect();
    (results, coverage)
}

fn run_one(
    program: &Arc<Program>,
    base: Option<&Loaded>,
    test: &TestCase,
    backend: Backend,
    start_ms: i64,
    coverage: &mut Coverage,
) -> TestResult {
    let mut result = TestResult { name: test.name.clone(), location: test.location.clone(), failures: Vec::new() };
    let clock = Arc::new(FixedClock::new(start_ms));
    let mut entities: Vec<Json> = Vec::new();
    let mut links: Vec<Json> = Vec::new();
    // The test's entities and links, checked against the program: errors
    // name the entity or the link.
    let load = |entities: &[Json], links: &[Json]| -> Result<Loaded, String> {
        let store =
            Store::load(Arc::clone(program), &Json::Array(entities.to_vec())).map_err(|e| format!("entities: {e}"))?;
        let want_jit = backend == Backend::Jit;
        let loaded = match base {
            Some(base) => Loaded::new_reusing(Arc::clone(program), store, want_jit, base),
            None => Loaded::new(Arc::clone(program), store, want_jit),
        };
        if links.is_empty() {
            return Ok(loaded);
        }
        let checked =
            crate::links::Links::from_json(program, &Json::Array(links.to_vec())).map_err(|e| e.to_string())?;
        loaded.with_links(Arc::new(checked))
    };
    let engine = match load(&entities, &links) {
        Ok(loaded) => Engine::new(loaded, clock.clone(), backend),
        Err(e) => {
            result.failures.push(Failure {
                location: test.location.clone(),
                message: e,
                expected: String::new(),
                actual: String::new(),
            });
            return result;
        }
    };
    for step in &test.steps {
        match step {
            TestStep::At(ms) => clock.set(*ms),
            TestStep::Advance(ms) => clock.advance(*ms),
            TestStep::Entities(Json::Array(items)) => {
                for item in items {
                    // A later definition of the same entity replaces the earlier one.
                    let uid = item.get("uid").cloned();
                    entities.retain(|e| e.get("uid") != uid.as_ref());
                    entities.push(item.clone());
                }
                match load(&entities, &links) {
                    Ok(loaded) => engine.swap(loaded),
                    Err(e) => result.failures.push(Failure {
                        location: test.location.clone(),
                        message: e,
                        expected: String::new(),
                        actual: String::new(),
                    }),
                }
            }
            TestStep::Link { link, location } => {
                links.push(link.clone());
                match load(&entities, &links) {
                    Ok(loaded) => engine.swap(loaded),
                    Err(e) => result.failures.push(Failure {
                        location: location.clone(),
                        message: e,
                        expected: String::new(),
                        actual: String::new(),
                    }),
                }
            }
            TestStep::Entities(_) => {}
            TestStep::Request { request, result: reported, expectations, location } => {
                let decision = match Request::from_json(request) {
                    Ok(r) => {
                        let mut decision = engine.decide(&r);
                        // The action ran and returned `reported`: its result flows record it.
                        if let Some(json) = reported
                            && decision.effect == Effect::Allow
                        {
                            let record = engine.record_result_at(&r, ActionResult::Json(json), engine.clock().now_ms());
                            decision
                                .errors
                                .extend(record.errors.into_iter().map(|message| EvalErrorOut { rule: None, message }));
                        }
                        decision
                    }
                    Err(e) => Decision::refused(e.to_string()),
                };
                for r in decision.reasons.iter().filter_map(|r| r.rule.clone()) {
                    // A linked rule `T[LINK]` exercises its template `T`.
                    coverage.exercised.insert(crate::links::template_of(&r).to_string());
                    coverage.exercised.insert(r);
                }
                coverage.exercised.extend(decision.masks.iter().map(|m| m.rule.clone()));
                coverage.exercised.extend(decision.limits.iter().map(|l| l.rule.clone()));
                coverage.exercised.extend(decision.shadow.iter().map(|s| s.rule.clone()));
                for x in expectations {
                    if let Some(message) = mismatch(x, &decision) {
                        result.failures.push(Failure {
                            location: x.location.clone(),
                            message,
                            expected: expected_text(x),
                            actual: actual_text(&decision),
                        });
                    }
                }
                if expectations.is_empty() && decision.effect == Effect::Deny && !decision.errors.is_empty() {
                    // A setup request that errors is worth knowing about.
                    let message = format!(
                        "request was refused: {}",
                        decision.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
                    );
                    result.failures.push(Failure {
                        location: location.clone(),
                        message,
                        expected: String::new(),
                        actual: actual_text(&decision),
                    });
                }
            }
        }
    }
    result
}

/// What is wrong with `decision` against `x`, if anything.
fn mismatch(x: &Expectation, decision: &Decision) -> Option<String> {
    let effect = decision.effect.as_str();
    let ok_outcome = match x.outcome.as_str() {
        "error" => decision.effect == Effect::Deny && !decision.errors.is_empty(),
        other => other == effect,
    };
    if !ok_outcome {
        return Some(format!("expected {}, got {effect}", x.outcome));
    }
    let rules: Vec<&str> = decision.reasons.iter().filter_map(|r| r.rule.as_deref()).collect();
    for id in &x.by {
        if !rules.contains(&id.as_str()) {
            let got = if rules.is_empty() { "no rule".to_string() } else { rules.join(", ") };
            return Some(format!("expected rule `{id}` among the deciding rules, got {got}"));
        }
    }
    for o in &x.obligations {
        if !decision.obligations.iter().any(|d| &d.name == o) {
            return Some(format!("expected obligation `{o}`"));
        }
    }
    for m in &x.masks {
        if !decision.masks.iter().any(|d| d.paths.contains(m)) {
            return Some(format!("expected a mask on `{m}`"));
        }
    }
    for e in &x.errors {
        if !decision.errors.iter().any(|d| d.message.contains(e.as_str())) {
            return Some(format!("expected an error containing {e:?}"));
        }
    }
    if let Some(n) = x.remaining {
        let least = decision.limits.iter().map(|l| l.remaining).min();
        if least != Some(n) {
            return Some(format!(
                "expected {n} remaining, got {}",
                least.map_or("no limit".to_string(), |l| l.to_string())
            ));
        }
    }
    None
}

fn expected_text(x: &Expectation) -> String {
    let mut out = format!("effect: {}\n", x.outcome);
    if !x.by.is_empty() {
        out.push_str(&format!("by: {}\n", x.by.join(", ")));
    }
    for o in &x.obligations {
        out.push_str(&format!("obligation: {o}\n"));
    }
    for m in &x.masks {
        out.push_str(&format!("mask: {m}\n"));
    }
    if let Some(n) = x.remaining {
        out.push_str(&format!("remaining: {n}\n"));
    }
    out
}

fn actual_text(d: &Decision) -> String {
    let mut out = format!("effect: {}\n", d.effect.as_str());
    let rules: Vec<&str> = d.reasons.iter().filter_map(|r| r.rule.as_deref()).collect();
    if !rules.is_empty() {
        out.push_str(&format!("by: {}\n", rules.join(", ")));
    }
    for r in d.reasons.iter().filter(|r| r.rule.is_none()) {
        out.push_str(&format!("reason: {}\n", r.clause));
    }
    for o in &d.obligations {
        out.push_str(&format!("obligation: {}\n", o.name));
    }
    for m in &d.masks {
        out.push_str(&format!("mask: {}\n", m.paths.join(", ")));
    }
    for l in &d.limits {
        out.push_str(&format!("remaining: {} ({})\n", l.remaining, l.rule));
    }
    for e in &d.errors {
        out.push_str(&format!("error: {}\n", e.message));
    }
    out
}
