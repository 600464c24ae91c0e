//! Input read strictly (issue 15, "Decisions and data"): decimals given as
//! JSON numbers are exact, duplicate keys are refused, entity references
//! and actions have exactly their fields, the entity hierarchy is acyclic
//! and bounded. Each of these was decided (or loaded) silently before.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_runtime::decision::Decision;
use ward_runtime::engine::{Backend, Engine};
use ward_runtime::{Effect, Request, Store};

const POLICY: &str = r#"
schema app {
  entity Team in [Team]
  entity User in [Team] { limit?: Decimal }
  entity Doc
  action pay, read, delete_customer, read_customer by [User] on [Doc] with { amount?: Decimal, note?: String }
}

policy p {
  @id("all") permit principal: User
  @id("too-much") forbid action: pay when context has amount && context.amount > 100000000000000.0
  @id("over-limit") forbid action: pay when context has amount && principal has limit && context.amount > principal.limit
  @id("no-deletes") forbid action: delete_customer
}
"#;

fn engines(entities: Json) -> Vec<Engine> {
    [Backend::Interpreter, Backend::Jit].into_iter().map(|b| common::engine_with(POLICY, entities.clone(), b)).collect()
}

fn dana() -> Json {
    json!([{"uid": {"type": "User", "id": "dana"}, "attrs": {}}])
}

/// The decision for request text, on both backends (a refused request is a deny).
fn decide_text(entities: Json, text: &str) -> Decision {
    let mut out: Option<Decision> = None;
    for engine in engines(entities.clone()) {
        let d = match Request::from_json_str(text) {
            Ok(r) => engine.decide(&r),
            Err(e) => Decision::refused(e.to_string()),
        };
        if let Some(first) = &out {
            assert_eq!(first, &d, "the backends disagree");
        }
        out = Some(d);
    }
    out.unwrap()
}

fn pay(amount: &str) -> String {
    format!(
        r#"{{"principal": {{"type": "User", "id": "dana"}}, "action": "pay",
            "resource": {{"type": "Doc", "id": "d"}}, "context": {{"amount": {amount}}}}}"#
    )
}

// ───────────────────────── decimals ─────────────────────────

#[test]
fn a_decimal_number_is_read_exactly_as_its_string_is() {
    // A double rounds 100000000000000.0001 to 100000000000000.0: the forbid must still apply.
    let as_string = decide_text(dana(), &pay("\"100000000000000.0001\""));
    assert_eq!(as_string.effect, Effect::Deny, "{}", as_string.explain());
    let as_number = decide_text(dana(), &pay("100000000000000.0001"));
    assert_eq!(as_number.effect, Effect::Deny, "{}", as_number.explain());
    assert_eq!(as_number.reasons[0].rule.as_deref(), Some("p.too-much"), "{}", as_number.explain());
    // Exactly the bound: allowed, as a number and as a string.
    assert_eq!(decide_text(dana(), &pay("100000000000000.0")).effect, Effect::Allow);
    assert_eq!(decide_text(dana(), &pay("\"100000000000000.0\"")).effect, Effect::Allow);
    // Other spellings of exact values.
    assert_eq!(decide_text(dana(), &pay("1.50000")).effect, Effect::Allow);
    assert_eq!(decide_text(dana(), &pay("1e14")).effect, Effect::Allow);
    assert_eq!(decide_text(dana(), &pay("1.0000000000000001e14")).effect, Effect::Deny);
}

#[test]
fn numbers_that_would_lose_precision_are_refused() {
    for amount in ["1.00005", "0.123456789", "1e-5", "12345678901234567890123", "1e400"] {
        let d = decide_text(dana(), &pay(amount));
        assert_eq!(d.effect, Effect::Deny, "{amount}: {}", d.explain());
        assert!(d.errors.iter().any(|e| e.message.contains("context.amount")), "{amount}: {:#?}", d.errors);
    }
}

#[test]
fn decimal_numbers_in_entity_data_are_exact() {
    // Entity files are read from text exactly as requests are.
    let text = r#"[{"uid": {"type": "User", "id": "dana"}, "attrs": {"limit": 100000000000000.0001}}]"#;
    let program = common::program(POLICY);
    let store = Store::load_str(Arc::clone(&program), text).expect("loads");
    let engine = Engine::new(
        ward_runtime::engine::Loaded::new(program, store, true),
        Arc::new(ward_runtime::engine::FixedClock::new(common::NOON)),
        Backend::Jit,
    );
    // 100000000000000.0001 > the limit would hold if the limit had been rounded down.
    let d = engine.decide(&Request::from_json_str(&pay("\"100000000000000.0001\"")).unwrap());
    assert_eq!(d.reasons[0].rule.as_deref(), Some("p.too-much"), "{}", d.explain());
    assert!(!d.reasons.iter().any(|r| r.rule.as_deref() == Some("p.over-limit")), "{}", d.explain());
}

// ───────────────────────── duplicate keys ─────────────────────────

#[test]
fn a_duplicate_key_is_refused_and_named() {
    let text = r#"{"principal": {"type": "User", "id": "dana"}, "action": "delete_customer",
        "action": "read_customer", "resource": {"type": "Doc", "id": "d"}}"#;
    let e = Request::from_json_str(text).expect_err("a request with two actions is refused");
    assert!(e.to_string().contains("`action`") && e.to_string().contains("twice"), "{e}");
    // At any depth: the path names where.
    let nested = r#"{"principal": {"type": "User", "id": "dana", "id": "eve"}, "action": "read_customer",
        "resource": {"type": "Doc", "id": "d"}}"#;
    let e = Request::from_json_str(nested).expect_err("refused");
    assert_eq!(e.path, "principal.id", "{e}");
    let in_context = r#"{"principal": {"type": "User", "id": "dana"}, "action": "pay",
        "resource": {"type": "Doc", "id": "d"}, "context": {"amount": "1.0", "amount": "1e20"}}"#;
    let e = Request::from_json_str(in_context).expect_err("refused");
    assert_eq!(e.path, "context.amount", "{e}");
    // In entity data too.
    let entities = r#"[{"uid": {"type": "User", "id": "dana"}, "attrs": {"limit": "1.0", "limit": "2.0"}}]"#;
    let e = Store::load_str(common::program(POLICY), entities).expect_err("refused");
    assert!(e.to_string().contains("entities[0].attrs.limit"), "{e}");
}

// ───────────────────────── references and actions ─────────────────────────

#[test]
fn an_entity_as_action_is_refused() {
    let text = r#"{"principal": {"type": "User", "id": "dana"}, "action": {"type": "User", "id": "read"},
        "resource": {"type": "Doc", "id": "d"}}"#;
    let e = Request::from_json_str(text).expect_err("a User is not an action");
    assert_eq!(e.path, "action.type", "{e}");
    // Cedar's form is accepted.
    let ok = r#"{"principal": {"type": "User", "id": "dana"}, "action": {"type": "Action", "id": "read"},
        "resource": {"type": "Doc", "id": "d"}}"#;
    assert_eq!(Request::from_json_str(ok).unwrap().action, "read");
    for bad in [
        r#"{"type": "Action", "id": "read", "extra": 1}"#,
        r#"{"type": "Action"}"#,
        r#"{"type": "Action", "id": 7}"#,
        r#"{"__entity": {"type": "Action", "id": "read"}, "x": 1}"#,
    ] {
        let text = format!(
            r#"{{"principal": {{"type": "User", "id": "dana"}}, "action": {bad}, "resource": {{"type": "Doc", "id": "d"}}}}"#
        );
        let e = Request::from_json_str(&text).expect_err(bad);
        assert!(e.path.starts_with("action"), "{bad}: {e}");
    }
}

#[test]
fn extra_fields_in_entity_references_are_refused() {
    let cases = [
        (json!({"type": "User", "id": "dana", "admin": true}), "principal.admin"),
        (json!({"__entity": {"type": "User", "id": "dana", "role": "x"}}), "principal.__entity.role"),
        (json!({"__entity": {"type": "User", "id": "dana"}, "id": "eve"}), "principal.id"),
    ];
    for (principal, path) in cases {
        let r = json!({"principal": principal, "action": "read", "resource": {"type": "Doc", "id": "d"}});
        let e = Request::from_json(&r).expect_err("refused");
        assert_eq!(e.path, path, "{e}");
    }
    // In entity data: a parent and a uid with an extra field.
    let program = common::program(POLICY);
    let data = json!([{"uid": {"type": "User", "id": "dana"}, "parents": [{"type": "Team", "id": "a", "x": 1}]}]);
    let e = Store::load(Arc::clone(&program), &data).expect_err("refused");
    assert_eq!(e.path, "entities[0].parents[0].x", "{e}");
    let data = json!([{"uid": {"type": "User", "id": "dana", "ty": "Team"}}]);
    let e = Store::load(program, &data).expect_err("refused");
    assert_eq!(e.path, "entities[0].uid.ty", "{e}");
}

// ───────────────────────── the hierarchy ─────────────────────────

#[test]
fn a_cyclic_hierarchy_is_refused_with_the_cycle_named() {
    let data = json!([
        {"uid": {"type": "Team", "id": "a"}, "parents": [{"type": "Team", "id": "b"}]},
        {"uid": {"type": "Team", "id": "b"}, "parents": [{"type": "Team", "id": "c"}]},
        {"uid": {"type": "Team", "id": "c"}, "parents": [{"type": "Team", "id": "a"}]},
        {"uid": {"type": "User", "id": "dana"}, "parents": [{"type": "Team", "id": "a"}]},
    ]);
    let e = Store::load(common::program(POLICY), &data).expect_err("a cycle is refused");
    let text = e.to_string();
    for t in ["Team::\"a\"", "Team::\"b\"", "Team::\"c\"", "cycle"] {
        assert!(text.contains(t), "{text}");
    }
    // An entity in itself is a cycle too.
    let data = json!([{"uid": {"type": "Team", "id": "a"}, "parents": [{"type": "Team", "id": "a"}]}]);
    assert!(Store::load(common::program(POLICY), &data).is_err());
}

/// A chain of teams `t0 in t1 in … in t{n-1}`.
fn chain(n: usize) -> Json {
    Json::Array(
        (0..n)
            .map(|i| {
                let parents =
                    if i + 1 < n { json!([{"type": "Team", "id": format!("t{}", i + 1)}]) } else { json!([]) };
                json!({"uid": {"type": "Team", "id": format!("t{i}")}, "parents": parents})
            })
            .collect(),
    )
}

#[test]
fn a_deep_hierarchy_is_refused_with_its_limit() {
    use ward_runtime::store::MAX_ANCESTORS;
    let program = common::program(POLICY);
    // Up to the limit: loaded, every ancestor known.
    let store = Store::load(Arc::clone(&program), &chain(MAX_ANCESTORS + 1)).expect("at the limit");
    let bottom = store.find(store.type_index("Team").unwrap(), "t0").unwrap();
    assert_eq!(store.get(bottom).unwrap().ancestors.len(), MAX_ANCESTORS);
    // One more: refused, naming the entity and the limit. 200,000 deep would
    // hold 2·10^10 ancestors if loaded; refusing costs at most the limit per entity.
    for n in [MAX_ANCESTORS + 2, 200_000] {
        let e = Store::load(Arc::clone(&program), &chain(n)).expect_err("too deep");
        assert!(e.to_string().contains(&format!("more than {MAX_ANCESTORS}")), "{e}");
        assert!(e.to_string().contains("Team::\"t"), "{e}");
    }
}
