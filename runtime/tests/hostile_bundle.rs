//! A bundle signed by a valid key but hostile (issue 15, "JIT memory
//! safety"): its program holds out-of-range indexes, nodes of the wrong
//! type, expression cycles or bad slot tables. Native code reads the entity
//! store and the context at the indexes the program gives, so each such
//! bundle must be refused when it is read — before anything compiles or
//! evaluates it — and never read out of bounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use serde_json::json;
use ward_compiler::ir::{Const, ExprKind, LimitMeasure, Program, RuleKind, Ty};
use ward_runtime::bundle::ed25519_dalek::SigningKey;
use ward_runtime::bundle::{Bundle, BundleError, generate_key};
use ward_runtime::engine::{Backend, Engine, FixedClock};
use ward_runtime::{Effect, Request};

const POLICY: &str = r#"
schema app {
  entity Team
  entity User in [Team] { level: Int, manager?: User, tags: Set<String> }
  entity Doc { owner: User, secret: Bool }
  enum Kind { memo, report }
  action read by [User] on [Doc] with { mfa: Bool, kind?: Kind }
}

policy p {
  @id("team") permit principal in Team::"eng", action: read when resource.owner.level > 2 && context.mfa
  @id("secret") forbid action: read when resource.secret && !(principal has manager)
}
"#;

fn entities() -> serde_json::Value {
    json!([
        {"uid": {"type": "Team", "id": "eng"}},
        {"uid": {"type": "User", "id": "ana"}, "parents": [{"type": "Team", "id": "eng"}], "attrs": {"level": 3, "tags": []}},
        {"uid": {"type": "Doc", "id": "d"}, "attrs": {"owner": {"type": "User", "id": "ana"}, "secret": false}},
    ])
}

fn signed(program: Program, key: &SigningKey) -> Vec<u8> {
    Bundle::new(program, &[("p.ward".to_string(), POLICY.as_bytes().to_vec())], 0).to_bytes(Some(key)).unwrap()
}

/// The index of the first node of rule `rule` matching `pred`.
fn find(p: &Program, rule: &str, pred: impl Fn(&ExprKind, &Ty) -> bool) -> (usize, usize) {
    let r = p.rules.iter().position(|r| r.id == rule).unwrap();
    let e =
        p.rules[r].exprs.iter().position(|e| pred(&e.kind, &e.ty)).unwrap_or_else(|| panic!("no such node in {rule}"));
    (r, e)
}

#[test]
fn the_honest_bundle_loads_and_decides() {
    let key = generate_key().unwrap();
    let bytes = signed((*common::program(POLICY)).clone(), &key);
    let bundle = Bundle::read(&bytes, Some(&key.verifying_key())).unwrap();
    let engine =
        Engine::new(bundle.loaded(&entities(), true).unwrap(), Arc::new(FixedClock::new(common::NOON)), Backend::Jit);
    assert!(engine.loaded().jit.is_some());
    let r = Request::from_json(&common::req(("User", "ana"), "read", ("Doc", "d"), json!({"mfa": true}))).unwrap();
    assert_eq!(engine.decide(&r).effect, Effect::Allow);
}

#[test]
fn hostile_programs_are_refused_when_the_bundle_is_read() {
    let honest = (*common::program(POLICY)).clone();
    type Corrupt = Box<dyn Fn(&mut Program)>;
    // A rule turned into a budget, as a hostile bundle could write it.
    fn budget(p: &mut Program, count: u64, measure: impl Fn(u32) -> LimitMeasure) {
        let (r, e) = find(p, "p.team", |k, t| matches!(k, ExprKind::Attr { .. }) && *t == Ty::Int);
        p.rules[r].kind = RuleKind::Limit {
            count,
            window_ms: 60_000,
            burst: 1,
            keys: Vec::new(),
            fail_open: false,
            measure: measure(e as u32),
        };
    }
    let cases: Vec<(&str, Corrupt, &str)> = vec![
        (
            "a budget summing a node that does not exist",
            Box::new(|p: &mut Program| budget(p, 100, |_| LimitMeasure::Sum { expr: 99_999, decimal: false })),
            "limit sum expression 99999 is out of range",
        ),
        (
            "a Decimal budget over an Int amount (the scale would be wrong)",
            Box::new(|p: &mut Program| budget(p, 100, |e| LimitMeasure::Sum { expr: e, decimal: true })),
            "a sum limit's expression is not Decimal",
        ),
        (
            "a budget beyond 2^50 (sums would not be exact in Redis)",
            Box::new(|p: &mut Program| budget(p, u64::MAX, |e| LimitMeasure::Sum { expr: e, decimal: false })),
            "is not within 1..=1125899906842624",
        ),
        (
            "a distinct count beyond its maximum (state per key would be unbounded)",
            Box::new(|p: &mut Program| budget(p, 1_000_000, |e| LimitMeasure::Distinct { expr: e })),
            "a distinct limit's count 1000000 is not within 1..=1000",
        ),
        (
            "an entity literal out of range (native code tests its bit)",
            Box::new(|p: &mut Program| {
                let (r, e) = find(p, "p.team", |k, _| matches!(k, ExprKind::Const(Const::Entity(_))));
                p.rules[r].exprs[e].kind = ExprKind::Const(Const::Entity(1_000_000));
            }),
            "entity literal 1000000 is out of range",
        ),
        (
            "an attribute name out of range (native code indexes the context slot table with it)",
            Box::new(|p: &mut Program| {
                let (r, e) = find(p, "p.team", |k, _| matches!(k, ExprKind::Attr { .. }));
                if let ExprKind::Attr { name, .. } = &mut p.rules[r].exprs[e].kind {
                    *name = 4_000_000_000;
                }
            }),
            "attribute name 4000000000 is out of range",
        ),
        (
            "an Int attribute read as an entity (its value would be used as an entity index)",
            Box::new(|p: &mut Program| {
                let user = p.entity_types.iter().position(|t| t.name == "User").unwrap() as u32;
                let (r, e) = find(p, "p.team", |k, t| matches!(k, ExprKind::Attr { .. }) && *t == Ty::Int);
                p.rules[r].exprs[e].ty = Ty::Entity(vec![user]);
            }),
            "read as another type than declared",
        ),
        (
            "an expression that is its own child (evaluation would not terminate)",
            Box::new(|p: &mut Program| {
                let (r, e) = find(p, "p.secret", |k, _| matches!(k, ExprKind::Not(_)));
                p.rules[r].exprs[e].kind = ExprKind::Not(e as u32);
            }),
            "is not an earlier expression",
        ),
        (
            "`response` read in a rule (only a result flow has a result; a rule's would be no value)",
            Box::new(|p: &mut Program| {
                let (r, e) = find(p, "p.team", |k, _| matches!(k, ExprKind::Var(ward_compiler::ir::Var::Resource)));
                p.rules[r].exprs[e].kind = ExprKind::Var(ward_compiler::ir::Var::Response);
            }),
            "`response` outside a result flow",
        ),
        (
            "a condition naming a node that does not exist",
            Box::new(|p: &mut Program| {
                p.rules[0].conditions[0].expr = 77_777;
            }),
            "condition 0 names expression 77777",
        ),
        (
            "a bucket naming a rule that does not exist",
            Box::new(|p: &mut Program| {
                p.buckets[0].rules.push(9_999);
            }),
            "rule 9999 is out of range",
        ),
        (
            "a template among a bucket's general rules (it would apply without a link)",
            Box::new(|p: &mut Program| {
                let slot = ward_compiler::ir::Slot {
                    var: ward_compiler::ir::SlotVar::Principal,
                    hierarchy: false,
                    types: vec![0],
                };
                p.rules[0].template = Some(ward_compiler::ir::Template { slots: vec![slot] });
            }),
            "listed among the general rules",
        ),
        (
            "a template slot of an entity type that does not exist",
            Box::new(|p: &mut Program| {
                let slot = ward_compiler::ir::Slot {
                    var: ward_compiler::ir::SlotVar::Resource,
                    hierarchy: true,
                    types: vec![77],
                };
                p.rules[0].template = Some(ward_compiler::ir::Template { slots: vec![slot] });
            }),
            "slot type 77 is out of range",
        ),
        (
            "a rule listed among a bucket's templates that is none",
            Box::new(|p: &mut Program| {
                p.buckets[0].templates.push(0);
            }),
            "is no template",
        ),
        (
            "a context field of an enum that does not exist",
            Box::new(|p: &mut Program| {
                let a = p.actions.iter().position(|a| a.name == "read").unwrap();
                p.actions[a].context[0].ty = Ty::Enum(999);
            }),
            "enum 999 is out of range",
        ),
        (
            "a bad slot table: the same context field twice",
            Box::new(|p: &mut Program| {
                let a = p.actions.iter().position(|a| a.name == "read").unwrap();
                let first = p.actions[a].context[0].clone();
                p.actions[a].context.push(first);
            }),
            "not sorted by name, or a name twice",
        ),
        (
            "a bad slot table: an attribute twice",
            Box::new(|p: &mut Program| {
                let t = p.entity_types.iter().position(|t| t.name == "User").unwrap();
                let first = p.entity_types[t].attrs[0].clone();
                p.entity_types[t].attrs.insert(0, first);
            }),
            "not sorted by name, or a name twice",
        ),
        (
            "an entity literal of a type that does not exist",
            Box::new(|p: &mut Program| {
                p.entity_literals[0].0 = 12_345;
            }),
            "entity type 12345 is out of range",
        ),
        (
            "a constant of the wrong type",
            Box::new(|p: &mut Program| {
                let (r, e) = find(p, "p.team", |k, _| matches!(k, ExprKind::Const(Const::Int(_))));
                p.rules[r].exprs[e].ty = Ty::String;
            }),
            "a constant of another type",
        ),
        (
            "an expression deeper than evaluation may recurse",
            Box::new(|p: &mut Program| {
                let (r, e) = find(p, "p.secret", |k, _| matches!(k, ExprKind::Not(_)));
                let rule = &mut p.rules[r];
                let mut last = e as u32;
                for _ in 0..ward_compiler::ir::validate::MAX_EXPR_DEPTH {
                    rule.exprs.push(ward_compiler::ir::Expr { kind: ExprKind::Not(last), ty: Ty::Bool });
                    last = rule.exprs.len() as u32 - 1;
                }
            }),
            "nested more than",
        ),
        (
            "a quantifier's variable read where no quantifier binds it",
            Box::new(|p: &mut Program| {
                let (r, e) = find(p, "p.team", |k, _| matches!(k, ExprKind::Var(_)));
                p.rules[r].exprs[e].kind = ExprKind::Local(0);
            }),
            "bound by no quantifier",
        ),
        (
            "a type test of an entity type that does not exist",
            Box::new(|p: &mut Program| {
                let (r, e) = find(p, "p.secret", |k, _| matches!(k, ExprKind::Has { .. }));
                let ExprKind::Has { base, .. } = p.rules[r].exprs[e].kind else { unreachable!() };
                p.rules[r].exprs[e].kind = ExprKind::Is { base, ty: 1_000 };
            }),
            "entity type",
        ),
        (
            "quantifiers nested deeper than the work bound allows",
            Box::new(|p: &mut Program| {
                let (r, _) = find(p, "p.secret", |k, _| matches!(k, ExprKind::Not(_)));
                let rule = &mut p.rules[r];
                let tags =
                    ward_compiler::ir::Expr { kind: ExprKind::Set(Vec::new()), ty: Ty::Set(Box::new(Ty::String)) };
                rule.exprs.push(ward_compiler::ir::Expr { kind: ExprKind::Const(Const::Bool(true)), ty: Ty::Bool });
                let mut body = rule.exprs.len() as u32 - 1;
                for var in 0..4 {
                    rule.exprs.push(tags.clone());
                    let set = rule.exprs.len() as u32 - 1;
                    rule.exprs.push(ward_compiler::ir::Expr {
                        kind: ExprKind::Quantifier { all: false, set, var, body },
                        ty: Ty::Bool,
                    });
                    body = rule.exprs.len() as u32 - 1;
                }
            }),
            "quantifiers nested more than",
        ),
    ];
    let key = generate_key().unwrap();
    let trusted = key.verifying_key();
    for (what, corrupt, needle) in cases {
        let mut program = honest.clone();
        corrupt(&mut program);
        assert_ne!(program, honest, "{what}: the corruption changed nothing");
        let bytes = signed(program.clone(), &key);
        match Bundle::read(&bytes, Some(&trusted)) {
            Err(BundleError::Invalid(message)) => {
                assert!(message.contains(needle), "{what}: {message}");
                assert!(BundleError::Invalid(message.clone()).to_string().contains("not valid decision IR"), "{what}");
            }
            Err(other) => panic!("{what}: refused for another reason: {other}"),
            Ok(_) => panic!("{what}: a hostile bundle was accepted"),
        }
        // Handed to the JIT directly (an embedder's own program), it gets no native code either.
        let store = ward_runtime::Store::load(Arc::new(program.clone()), &entities());
        if let Ok(store) = store {
            let loaded = ward_runtime::Loaded::new(Arc::new(program), store, true);
            assert!(loaded.jit.is_none(), "{what}: the JIT compiled a hostile program");
            assert!(loaded.jit_error.as_deref().unwrap_or("").contains("not valid IR"), "{what}");
        }
    }
}
