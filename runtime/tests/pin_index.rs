//! Rules pinned on both sides (`principal == User::"u", resource ==
//! Doc::"d"`) are filed under whichever literal has fewer rules, so a user
//! holding a grant on each of many documents does not make each of their
//! requests visit all of those grants. Filing changes no decision, and a
//! program filing a rule under a literal its scope does not pin is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_compiler::ir::Program;
use ward_runtime::decision::Decision;
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward_runtime::{Effect, Request, Store};

use common::{NOON, req};

const DOCS: usize = 40;

/// `u0` has a grant on every document; `u1` on every fifth; a ban pins
/// `u0` alone; every document has a resource-pinned ban for `u2`.
fn source() -> String {
    let mut src = String::from(
        "schema s {\n  entity User\n  entity Doc { level: Int }\n  action read by [User] on [Doc]\n}\npolicy p {\n",
    );
    for d in 0..DOCS {
        let _ = writeln!(
            src,
            "  @id(\"u0-d{d}\") permit principal == User::\"u0\", action == read, resource == Doc::\"d{d}\""
        );
        if d % 5 == 0 {
            let _ = writeln!(
                src,
                "  @id(\"u1-d{d}\") permit principal == User::\"u1\", action == read, resource == Doc::\"d{d}\""
            );
        }
        let _ = writeln!(
            src,
            "  @id(\"no-u2-d{d}\") forbid principal == User::\"u2\", resource == Doc::\"d{d}\" when resource.level > 0"
        );
    }
    src.push_str("  @id(\"u0-low\") forbid principal == User::\"u0\", action == read when resource.level > 8\n");
    src.push_str("  @id(\"all\") permit action == read when resource.level == 3\n}\n");
    src
}

fn entities() -> Json {
    let mut data: Vec<Json> = (0..3).map(|u| json!({"uid": {"type": "User", "id": format!("u{u}")}})).collect();
    for d in 0..DOCS {
        data.push(json!({"uid": {"type": "Doc", "id": format!("d{d}")}, "attrs": {"level": d % 10}}));
    }
    Json::Array(data)
}

fn engine(program: Arc<Program>, backend: Backend, fast: bool) -> Engine {
    let store = Store::load(Arc::clone(&program), &entities()).expect("entities load");
    let engine =
        Engine::new(Loaded::new(program, store, backend == Backend::Jit), Arc::new(FixedClock::new(NOON)), backend);
    if fast { engine } else { engine.without_fast_path() }
}

/// The program with every rule pinned on both sides filed under its
/// principal, as the compiler did before.
fn filed_by_principal(program: &Program) -> Program {
    let mut program = program.clone();
    for b in &mut program.buckets {
        let mut moved = Vec::new();
        for (_, rules) in &mut b.by_resource {
            rules.retain(|r| {
                let pin = program.rules[*r as usize].pinned_principal;
                if let Some(p) = pin {
                    moved.push((p, *r));
                }
                pin.is_none()
            });
        }
        b.by_resource.retain(|(_, rules)| !rules.is_empty());
        for (p, r) in moved {
            match b.by_principal.iter_mut().find(|(k, _)| *k == p) {
                Some((_, rules)) => rules.push(r),
                None => b.by_principal.push((p, vec![r])),
            }
        }
    }
    program
}

fn decide(engine: &Engine, principal: &str, doc: &str) -> Decision {
    let request = Request::from_json(&req(("User", principal), "read", ("Doc", doc), json!({}))).unwrap();
    engine.decide_at(&request, NOON)
}

fn outcome(d: &Decision) -> (Effect, Vec<String>) {
    let mut rules: Vec<String> = d.reasons.iter().filter_map(|r| r.rule.clone()).collect();
    rules.sort();
    (d.effect, rules)
}

#[test]
fn a_rule_pinned_on_both_sides_is_filed_under_the_rarer_literal() {
    let program = common::program(&source());
    let literal = |k: u32| program.entity_literals[k as usize].1.clone();
    let id = |r: u32| program.rules[r as usize].id.clone();
    let read = program.actions.iter().position(|a| a.name == "read").unwrap() as u32;
    let bucket = program.buckets.iter().find(|b| b.action == read).unwrap();
    let under = |map: &[(u32, Vec<u32>)], key: &str| -> Vec<String> {
        map.iter().filter(|(k, _)| literal(*k) == key).flat_map(|(_, rules)| rules.iter().map(|r| id(*r))).collect()
    };
    // u0's 40 grants went to their documents; only its one-sided ban stays.
    assert_eq!(under(&bucket.by_principal, "u0"), vec!["p.u0-low".to_string()]);
    // u1's grants are on documents that also hold u0's and u2's rules (3
    // rules) while u1 has 8: filed under the documents too.
    assert!(under(&bucket.by_principal, "u1").is_empty());
    let d5 = under(&bucket.by_resource, "d5");
    for rule in ["p.u0-d5", "p.u1-d5", "p.no-u2-d5"] {
        assert!(d5.contains(&rule.to_string()), "{d5:?}");
    }
    ward_compiler::ir::validate(&program).unwrap();
}

#[test]
fn filing_changes_no_decision() {
    let program = common::program(&source());
    let reference = Arc::new(filed_by_principal(&program));
    ward_compiler::ir::validate(&reference).unwrap();
    let (mut allows, mut denies) = (0, 0);
    for backend in [Backend::Interpreter, Backend::Jit] {
        for fast in [true, false] {
            let filed = engine(Arc::clone(&program), backend, fast);
            let before = engine(Arc::clone(&reference), backend, fast);
            for u in 0..4 {
                for d in 0..DOCS {
                    let (u, d) = (format!("u{u}"), format!("d{d}"));
                    let expected = outcome(&decide(&before, &u, &d));
                    assert_eq!(outcome(&decide(&filed, &u, &d)), expected, "{backend:?} fast={fast}: {u} {d}");
                    if expected.0 == Effect::Allow { allows += 1 } else { denies += 1 }
                }
            }
        }
    }
    assert!(allows > 40 && denies > 40, "allows {allows}, denies {denies}");
}

#[test]
fn validation_refuses_a_rule_filed_under_a_literal_it_does_not_pin() {
    let program = common::program(&source());
    let literal = |name: &str| program.entity_literals.iter().position(|(_, id)| id == name).unwrap() as u32;
    let mut wrong = (*program).clone();
    let b = wrong.buckets.iter().position(|b| !b.by_resource.is_empty()).unwrap();
    // d1's rules moved under d2: they would never run for d1.
    let (d1, d2) = (literal("d1"), literal("d2"));
    let entry = wrong.buckets[b].by_resource.iter_mut().find(|(k, _)| *k == d1).unwrap();
    entry.0 = d2;
    let e = ward_compiler::ir::validate(&wrong).unwrap_err();
    assert!(e.contains("resource literal its scope does not pin"), "{e}");
    // A principal-only rule moved under a resource literal.
    let mut wrong = (*program).clone();
    let u0_low = wrong.rules.iter().position(|r| r.id == "p.u0-low").unwrap() as u32;
    wrong.buckets[b].by_resource[0].1.push(u0_low);
    let e = ward_compiler::ir::validate(&wrong).unwrap_err();
    assert!(e.contains("does not pin"), "{e}");
}
