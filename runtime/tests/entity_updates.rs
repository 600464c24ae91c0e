//! Entity updates without recompiling (issue 18, item 6): an engine whose
//! entities are patched (`Engine::update_entities`) or swapped whole
//! (`Engine::set_entities`) keeps its native code and decides exactly as an
//! engine freshly built on the new entities, on both backends — including
//! an entity the policy names that the data did not list and then does (and
//! the reverse), and a removed parent whose descendants lose the ancestors
//! they had through it. A bad patch is refused naming the entity, and
//! changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward_runtime::{Effect, EntityPatch, Request, Store};

use common::NOON;

const POLICY: &str = r#"
schema app {
  entity Org { tier: Int }
  entity Team in [Team, Org]
  entity User in [Team] { home: Team }
  entity Doc { org: Org }
  action read by [User] on [Doc]
}

policy p {
  @id("acme-members") permit action: read when principal in Org::"acme"
  @id("same-org") permit action: read when principal in resource.org
  @id("root") permit action: read when principal == User::"root"
  @id("gold") permit action: read when Org::"gold".tier > 2 && principal in Team::"gold-team"
  @id("banned") forbid action: read when principal in Team::"banned"
}
"#;

fn uid(ty: &str, id: &str) -> Json {
    json!({"type": ty, "id": id})
}

fn org(id: &str, tier: i64) -> Json {
    json!({"uid": uid("Org", id), "attrs": {"tier": tier}})
}

fn team(id: &str, parents: &[Json]) -> Json {
    json!({"uid": uid("Team", id), "parents": parents})
}

fn user(id: &str, home: &str, parents: &[Json]) -> Json {
    json!({"uid": uid("User", id), "attrs": {"home": uid("Team", home)}, "parents": parents})
}

fn doc(id: &str, org: &str) -> Json {
    json!({"uid": uid("Doc", id), "attrs": {"org": uid("Org", org)}})
}

/// The starting data: `Org::"gold"` and `Team::"gold-team"`, which the
/// policy names, are not listed.
fn initial() -> Vec<Json> {
    vec![
        org("acme", 1),
        team("dev", &[uid("Org", "acme")]),
        user("alice", "dev", &[uid("Team", "dev")]),
        user("bob", "dev", &[]),
        doc("d1", "acme"),
        doc("d2", "gold"),
    ]
}

fn engine(entities: &[Json], backend: Backend) -> Engine {
    let program = common::program(POLICY);
    let store = Store::load(Arc::clone(&program), &Json::Array(entities.to_vec())).unwrap();
    Engine::new(Loaded::new(program, store, backend == Backend::Jit), Arc::new(FixedClock::new(NOON)), backend)
}

fn requests() -> Vec<Request> {
    let mut out = Vec::new();
    for p in ["alice", "bob", "root", "carol"] {
        for r in ["d1", "d2", "d3"] {
            out.push(Request::from_json(&common::req(("User", p), "read", ("Doc", r), json!({}))).unwrap());
        }
    }
    out
}

fn effect(engine: &Engine, principal: &str, resource: &str) -> Effect {
    let request = common::req(("User", principal), "read", ("Doc", resource), json!({}));
    common::decide(engine, request).effect
}

/// Every request decides the same on `engine` as on engines freshly built
/// on `entities` (both backends), and the native code is `code`.
fn assert_fresh(engine: &Engine, entities: &[Json], code: *const ward_runtime::jit::Jit) {
    let loaded = engine.loaded();
    if engine.backend() == Backend::Jit {
        assert!(std::ptr::eq(Arc::as_ptr(loaded.jit.as_ref().unwrap()), code), "the native code was rebuilt");
    }
    for backend in [Backend::Jit, Backend::Interpreter] {
        let fresh = engine_fresh(entities, backend);
        for r in requests() {
            let (got, expected) = (engine.decide_at(&r, NOON), fresh.decide_at(&r, NOON));
            assert_eq!(got, expected, "{r:?}\ngot      {}\nexpected {}", got.to_json(), expected.to_json());
        }
    }
}

fn engine_fresh(entities: &[Json], backend: Backend) -> Engine {
    let e = engine(entities, backend);
    assert_eq!(e.backend(), backend);
    e
}

fn code_of(engine: &Engine) -> *const ward_runtime::jit::Jit {
    engine.loaded().jit.as_ref().map_or(std::ptr::null(), Arc::as_ptr)
}

#[test]
fn patches_decide_as_fresh_engines_and_keep_the_native_code() {
    for backend in [Backend::Jit, Backend::Interpreter] {
        let e = engine(&initial(), backend);
        let code = code_of(&e);
        assert_eq!(code.is_null(), backend == Backend::Interpreter);
        assert_fresh(&e, &initial(), code);
        // Before: alice is in Org::"acme" through Team::"dev"; nobody is in Team::"gold-team".
        assert_eq!(effect(&e, "alice", "d1"), Effect::Allow);
        assert_eq!(effect(&e, "bob", "d2"), Effect::Deny);

        // The literals Org::"gold" and Team::"gold-team" become listed, bob joins the team (updated in place).
        let patch = EntityPatch::new()
            .upsert(org("gold", 3))
            .upsert(team("gold-team", &[uid("Org", "gold")]))
            .upsert(user("bob", "gold-team", &[uid("Team", "gold-team")]));
        assert_eq!(patch.len(), 3);
        e.update_entities(&patch).unwrap();
        let step1 = vec![
            org("acme", 1),
            team("dev", &[uid("Org", "acme")]),
            user("alice", "dev", &[uid("Team", "dev")]),
            user("bob", "gold-team", &[uid("Team", "gold-team")]),
            doc("d1", "acme"),
            doc("d2", "gold"),
            org("gold", 3),
            team("gold-team", &[uid("Org", "gold")]),
        ];
        assert_fresh(&e, &step1, code);
        assert_eq!(effect(&e, "bob", "d2"), Effect::Allow, "gold and same-org now apply to bob on d2");
        // On d1 (of Org::"acme") same-org does not apply, but gold does: it does not read the resource.
        let d = common::decide(&e, common::req(("User", "bob"), "read", ("Doc", "d1"), json!({})));
        assert_eq!(d.effect, Effect::Allow, "{}", d.to_json());
        assert!(
            !d.reasons.is_empty() && d.reasons.iter().all(|r| r.rule.as_deref() == Some("p.gold")),
            "{}",
            d.to_json()
        );

        // Removing Team::"dev", a parent: alice (still naming it) is no longer in Org::"acme".
        e.update_entities(&EntityPatch::new().remove("Team", "dev")).unwrap();
        let mut step2 = step1.clone();
        step2.remove(1);
        assert_fresh(&e, &step2, code);
        assert_eq!(effect(&e, "alice", "d1"), Effect::Deny, "alice lost Org::\"acme\" with Team::\"dev\"");

        // The literal Org::"gold" unlisted again: its attribute is absent, the rule errs and does not permit.
        e.update_entities(&EntityPatch::new().remove("Org", "gold").upsert(team("banned", &[]))).unwrap();
        let step3: Vec<Json> =
            step2.iter().filter(|x| x["uid"] != uid("Org", "gold")).cloned().chain([team("banned", &[])]).collect();
        assert_fresh(&e, &step3, code);
        let d = common::decide(&e, common::req(("User", "bob"), "read", ("Doc", "d2"), json!({})));
        assert_eq!(d.effect, Effect::Allow, "same-org still applies (bob is in Org::\"gold\" by reference)");
        assert!(d.reasons.iter().all(|r| r.rule.as_deref() != Some("p.gold")), "{}", d.to_json());

        // A whole new entity set, swapped in.
        let whole = vec![team("banned", &[]), user("carol", "banned", &[uid("Team", "banned")]), doc("d3", "acme")];
        e.set_entities(&Json::Array(whole.clone())).unwrap();
        assert_fresh(&e, &whole, code);
        assert_eq!(e.loaded().store.len(), whole.len() + 4, "listed entities and the policy's own literals");
        assert_eq!(effect(&e, "root", "d3"), Effect::Allow);
        assert_eq!(effect(&e, "carol", "d3"), Effect::Deny);
    }
}

#[test]
fn bad_patches_are_refused_naming_the_entity_and_change_nothing() {
    let e = engine(&initial(), Backend::Jit);
    let code = code_of(&e);
    let refused = |patch: EntityPatch| e.update_entities(&patch).unwrap_err().to_string();

    let m = refused(EntityPatch::new().remove("User", "nobody"));
    assert!(m.starts_with("remove[0]") && m.contains("User::\"nobody\""), "{m}");
    let m = refused(EntityPatch::new().upsert(org("x", 1)).upsert(org("x", 2)));
    assert!(m.starts_with("upsert[1]") && m.contains("Org::\"x\"") && m.contains("upsert[0]"), "{m}");
    let m = refused(EntityPatch::new().upsert(org("x", 1)).remove("Org", "x"));
    assert!(m.starts_with("remove[0]") && m.contains("Org::\"x\""), "{m}");
    let m = refused(EntityPatch::new().remove("Org", "acme").remove("Org", "acme"));
    assert!(m.starts_with("remove[1]"), "{m}");
    // A wrongly typed attribute, a type the schema does not have, a parent it does not allow.
    let m = refused(EntityPatch::new().upsert(json!({"uid": uid("User", "carol"), "attrs": {"home": 5}})));
    assert!(m.contains("User::\"carol\""), "{m}");
    let m = refused(EntityPatch::new().upsert(json!({"uid": uid("Robot", "r2")})));
    assert!(m.starts_with("upsert[0].uid.type") && m.contains("Robot"), "{m}");
    let m = refused(EntityPatch::new().upsert(doc("d1", "acme")).upsert(user("dan", "dev", &[uid("Org", "acme")])));
    assert!(m.starts_with("upsert[1].parents[0]") && m.contains("User::\"dan\""), "{m}");
    let m = refused(EntityPatch::new().upsert(json!({"attrs": {}})));
    assert!(m.starts_with("upsert[0]") && m.contains("uid"), "{m}");
    // A cycle, through an updated entity.
    let m = refused(EntityPatch::new().upsert(team("a", &[uid("Team", "b")])).upsert(team("b", &[uid("Team", "a")])));
    assert!(m.contains("cycle") && m.contains("Team::\"a\""), "{m}");

    // Nothing changed.
    assert_fresh(&e, &initial(), code);
    let whole = e.set_entities(&json!({"not": "a list"})).unwrap_err().to_string();
    assert!(whole.contains("expected an array"), "{whole}");
    assert_fresh(&e, &initial(), code);
}

#[test]
fn patches_read_from_json_and_stores_of_another_program_are_refused() {
    let patch = EntityPatch::from_json(&json!({
        "upsert": [org("gold", 3)],
        "remove": [uid("User", "bob"), "Team::\"dev\""],
    }))
    .unwrap();
    assert_eq!(patch.len(), 3);
    let e = engine(&initial(), Backend::Jit);
    let code = code_of(&e);
    e.update_entities(&patch).unwrap();
    let expected = vec![
        org("acme", 1),
        user("alice", "dev", &[uid("Team", "dev")]),
        doc("d1", "acme"),
        doc("d2", "gold"),
        org("gold", 3),
    ];
    assert_fresh(&e, &expected, code);

    for bad in [json!([]), json!({"upsert": {}}), json!({"remove": [{"type": "User"}]}), json!({"delete": []})] {
        assert!(EntityPatch::from_json(&bad).is_err(), "{bad}");
    }

    // A store loaded for another program is not paired with this one's code.
    let other =
        common::program("schema s {\n  entity U\n  action a by [U] on [U]\n}\npolicy q {\n  permit action: a\n}\n");
    let store = Store::load(other, &json!([])).unwrap();
    let why = e.loaded().with_store(store).err().unwrap();
    assert!(why.contains("another policy set"), "{why}");
}

/// A reload whose program did not change reuses the compiled parts; one
/// whose program changed compiles.
#[test]
fn reloads_reuse_the_native_code_only_for_the_same_program() {
    let e = engine(&initial(), Backend::Jit);
    let loaded = e.loaded();
    let code = code_of(&e);
    let program = common::program(POLICY);
    let store = Store::load(Arc::clone(&program), &json!([org("gold", 9)])).unwrap();
    let same = Loaded::new_reusing(program, store, true, &loaded);
    assert!(std::ptr::eq(Arc::as_ptr(same.jit.as_ref().unwrap()), code));
    let changed = common::program(&POLICY.replace("tier > 2", "tier > 3"));
    let store = Store::load(Arc::clone(&changed), &json!([])).unwrap();
    let other = Loaded::new_reusing(changed, store, true, &loaded);
    assert!(!std::ptr::eq(Arc::as_ptr(other.jit.as_ref().unwrap()), code));
    // An interpreter-only reload of a JIT policy set is built anew, without native code.
    let program = common::program(POLICY);
    let store = Store::load(Arc::clone(&program), &json!([])).unwrap();
    assert!(Loaded::new_reusing(program, store, false, &loaded).jit.is_none());
}

/// The ancestor limit holds for patches: a patch that would put an entity
/// in more than `MAX_ANCESTORS` entities — its own parents, or a parent
/// far above it moved under a long chain — is refused naming an entity,
/// and changes nothing.
#[test]
fn patches_keep_the_ancestor_limit() {
    let limit = ward_runtime::store::MAX_ANCESTORS;
    let chain = |from: usize, to: usize| -> Vec<Json> {
        (from..to).map(|i| team(&format!("c{i}"), &[uid("Team", &format!("c{}", i + 1))])).collect()
    };
    let e = engine(&initial(), Backend::Jit);
    let code = code_of(&e);
    // A chain of `limit - 10` teams below `c{limit - 10}`: within the limit.
    let mut patch = EntityPatch::new();
    for t in chain(0, limit - 10) {
        patch = patch.upsert(t);
    }
    e.update_entities(&patch).unwrap();
    let mut data = initial();
    data.extend(chain(0, limit - 10));
    assert_fresh(&e, &data, code);
    let store = e.loaded().store.clone();
    // Twenty more above its top: `c0` would be in `limit + 10`.
    let mut patch = EntityPatch::new();
    for t in chain(limit - 10, limit + 10) {
        patch = patch.upsert(t);
    }
    let m = e.update_entities(&patch).unwrap_err().to_string();
    assert!(m.contains(&format!("in more than {limit} entities")) && m.contains("Team::\"c"), "{m}");
    assert!(Arc::ptr_eq(&e.loaded().store, &store), "a refused patch changed the store");
    // The same, through a cycle: the top of the chain in its bottom.
    let m = e.update_entities(&EntityPatch::new().upsert(team(&format!("c{}", limit - 10), &[uid("Team", "c0")])));
    let m = m.unwrap_err().to_string();
    assert!(m.contains("cycle") && m.contains("Team::\"c0\""), "{m}");
    assert!(Arc::ptr_eq(&e.loaded().store, &store), "a refused patch changed the store");
    assert_fresh(&e, &data, code);
}

/// What patches replace stays in the store's tables until a patch loads the
/// list whole: thousands of patches adding and removing entities (each
/// naming an entity nothing else does) leave a store of bounded size that
/// decides as a fresh load.
#[test]
fn many_patches_leave_a_store_of_bounded_size() {
    let e = engine(&initial(), Backend::Jit);
    let code = code_of(&e);
    let mut most = 0;
    for k in 0..3000 {
        let name = format!("tmp{k}");
        e.update_entities(&EntityPatch::new().upsert(user(&name, &format!("home{k}"), &[uid("Team", "dev")]))).unwrap();
        e.update_entities(&EntityPatch::new().remove("User", name)).unwrap();
        most = most.max(e.loaded().store.len());
    }
    assert!(most < 3000, "the store grew with the patches: {most} entities");
    assert_fresh(&e, &initial(), code);
}
