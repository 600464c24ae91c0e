//! Entity tags (Cedar's `tags`, issue 17): a schema declares the type of
//! an entity type's tag values (`tags T`), entity data carries them
//! (`"tags": {…}`), typed like attributes, and `has_tag`/`get_tag` read
//! them, in the interpreter and the JIT alike. Data Ward cannot type is
//! refused naming the entity and the tag; a tag read that fails is an
//! evaluation error (fail closed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_compiler::ir::{Const, ExprKind, Method};
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward_runtime::{Effect, Store};

const SRC: &str = r#"
schema s {
  entity Team
  entity User in [Team] { name: String } tags Set<String>
  entity Doc { owner: User } tags { level: Int, note?: String }
  entity Plain
  action read by [User] on [Doc] with { key: String }
}

policy p {
  @id("by-key") permit action: read
    when resource.has_tag(context.key) && resource.get_tag(context.key).level >= 2
  @id("labelled") permit action: read
    when principal.has_tag("groups") && principal.get_tag("groups").contains("admins")
  @id("no-secret") forbid action: read
    when resource.has_tag("secret") && resource.get_tag("secret").level > 5
}
"#;

fn entities() -> Json {
    json!([
        {"uid": {"type": "User", "id": "ana"}, "attrs": {"name": "Ana"}, "tags": {"groups": ["admins", "cx"]}},
        {"uid": {"type": "User", "id": "bo"}, "attrs": {"name": "Bo"}},
        {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"owner": "User::\"ana\""},
         "tags": {"team": {"level": 3}, "secret": {"level": 9, "note": "legal"}}},
        {"uid": {"type": "Doc", "id": "d2"}, "attrs": {"owner": "User::\"bo\""}, "tags": {"team": {"level": 1}}},
        {"uid": {"type": "Doc", "id": "d3"}, "attrs": {"owner": "User::\"bo\""}, "tags": {}},
    ])
}

/// The interpreter and the JIT (which must compile: no silent fallback).
fn engines(src: &str, data: &Json) -> Vec<Engine> {
    [Backend::Interpreter, Backend::Jit]
        .into_iter()
        .map(|b| {
            let engine = common::engine_with(src, data.clone(), b);
            assert_eq!(engine.backend(), b, "{:?}", engine.loaded().jit_error);
            engine
        })
        .collect()
}

fn read(user: &str, doc: &str, key: &str) -> Json {
    common::req(("User", user), "read", ("Doc", doc), json!({"key": key}))
}

#[test]
fn tags_are_read_and_decide_alike_in_both_backends() {
    for engine in engines(SRC, &entities()) {
        let d = common::decide(&engine, read("bo", "d2", "team"));
        assert_eq!(d.effect, Effect::Deny, "level 1 < 2: {}", d.explain());
        let d = common::decide(&engine, read("bo", "d2", "nothing"));
        assert_eq!(d.effect, Effect::Deny, "no such tag: {}", d.explain());
        assert!(d.errors.is_empty(), "a guarded read of an absent tag is no error: {:?}", d.errors);
        let d = common::decide(&engine, read("bo", "d3", "team"));
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
        // The key is any string: a request's string finds the store's tag.
        let d = common::decide(&engine, read("ana", "d2", "team"));
        assert_eq!(d.effect, Effect::Allow, "ana is in admins: {}", d.explain());
        // d1 carries `secret` at level 9: the forbid wins over both permits.
        let d = common::decide(&engine, read("ana", "d1", "team"));
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
        assert!(d.explain().contains("no-secret"), "{}", d.explain());
    }
}

#[test]
fn tags_are_typed_and_errors_name_the_entity_and_the_tag() {
    let program = common::program(SRC);
    let load = |data: Json| Store::load(Arc::clone(&program), &data).map(|_| ()).map_err(|e| e.to_string());
    let with = |i: usize, tags: Json| {
        let mut data = entities();
        data[i]["tags"] = tags;
        data
    };
    // A value of the wrong type.
    let e = load(with(2, json!({"team": {"level": "high"}}))).unwrap_err();
    assert!(e.contains("Doc::\"d1\", tag `team`.level") && e.contains("expected an integer"), "{e}");
    // A required field of the tag type missing, an undeclared one given.
    let e = load(with(2, json!({"team": {}}))).unwrap_err();
    assert!(e.contains("Doc::\"d1\", tag `team`.level") && e.contains("missing"), "{e}");
    let e = load(with(0, json!({"groups": ["a"], "x": 1}))).unwrap_err();
    assert!(e.contains("User::\"ana\", tag `x`") && e.contains("expected an array"), "{e}");
    // Tags that are not an object.
    let e = load(with(0, json!(["admins"]))).unwrap_err();
    assert!(e.contains("entities[0].tags: expected an object"), "{e}");
    // A type that declares no tags: refused, naming the entity and the tag.
    let mut data = entities();
    data.as_array_mut().unwrap().push(json!({"uid": {"type": "Plain", "id": "p"}, "tags": {"k": "v"}}));
    let e = load(data).unwrap_err();
    assert!(e.contains("entities[5].tags.k") && e.contains("Plain::\"p\"") && e.contains("declares no tags"), "{e}");
    // Empty or absent tags are fine anywhere.
    let mut data = entities();
    data.as_array_mut().unwrap().push(json!({"uid": {"type": "Plain", "id": "p"}, "tags": {}}));
    load(data).unwrap();
}

/// Many tags on one entity load in time linear in their number, and each
/// read is a binary search.
#[test]
fn many_tags_load_and_read() {
    let mut tags = serde_json::Map::new();
    for i in 0..50_000 {
        tags.insert(format!("k{i}"), json!({"level": i % 7}));
    }
    let mut data = entities();
    data[3]["tags"] = Json::Object(tags);
    let started = std::time::Instant::now();
    for engine in engines(SRC, &data) {
        let d = common::decide(&engine, read("bo", "d2", "k5"));
        assert_eq!(d.effect, Effect::Allow, "{}", d.explain());
        let d = common::decide(&engine, read("bo", "d2", "k7"));
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
    }
    eprintln!("two engines over 50,000 tags: {:?}", started.elapsed());
}

/// A tag read the checker could not prove guarded cannot be written, but a
/// bundle is data: with the guard replaced by `true`, reading an absent tag
/// is an evaluation error in both backends: the permit does not apply.
#[test]
fn an_absent_tag_read_is_an_evaluation_error() {
    let mut program = (*common::program(SRC)).clone();
    for rule in &mut program.rules {
        for e in &mut rule.exprs {
            if matches!(e.kind, ExprKind::Method { method: Method::HasTag, .. }) {
                e.kind = ExprKind::Const(Const::Bool(true));
            }
        }
    }
    ward_compiler::ir::validate(&program).expect("still a valid program");
    let program = Arc::new(program);
    for backend in [Backend::Interpreter, Backend::Jit] {
        let store = Store::load(Arc::clone(&program), &entities()).unwrap();
        let engine = Engine::new(
            Loaded::new(Arc::clone(&program), store, backend == Backend::Jit),
            Arc::new(FixedClock::new(common::NOON)),
            backend,
        );
        let d = common::decide(&engine, read("bo", "d3", "team"));
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
        let errors = format!("{:?}", d.errors);
        assert!(errors.contains("tag `team` is absent on Doc::\\\"d3\\\""), "{errors}");
    }
}

/// A bundle is data: a tag read the schema does not allow — of a type that
/// declares no tags, of another type than declared, with a key that is not
/// a string — is refused when it is loaded, naming the node.
#[test]
fn the_ir_refuses_tag_reads_the_schema_does_not_allow() {
    let program = (*common::program(SRC)).clone();
    let find = |p: &ward_compiler::ir::Program, m: Method| {
        p.rules.iter().enumerate().find_map(|(r, rule)| {
            rule.exprs
                .iter()
                .position(|e| matches!(e.kind, ExprKind::Method { method, .. } if method == m))
                .map(|i| (r, i))
        })
    };
    let plain = program.entity_types.iter().position(|t| t.name == "Plain").unwrap() as u32;
    // `get_tag` typed as another type than the declared one.
    let mut p = program.clone();
    let (r, i) = find(&p, Method::GetTag).unwrap();
    p.rules[r].exprs[i].ty = ward_compiler::ir::Ty::Int;
    let e = ward_compiler::ir::validate(&p).unwrap_err();
    assert!(e.contains("a tag read of another type than declared"), "{e}");
    // Its receiver retyped as an entity type without tags.
    let mut p = program.clone();
    let (r, i) = find(&p, Method::HasTag).unwrap();
    let ExprKind::Method { recv, .. } = p.rules[r].exprs[i].kind.clone() else { unreachable!() };
    p.rules[r].exprs[recv as usize].ty = ward_compiler::ir::Ty::Entity(vec![plain]);
    let e = ward_compiler::ir::validate(&p).unwrap_err();
    assert!(e.contains("not an entity whose types declare tags"), "{e}");
    // A key that is not a string.
    let mut p = program;
    let (r, i) = find(&p, Method::HasTag).unwrap();
    let ExprKind::Method { args, .. } = p.rules[r].exprs[i].kind.clone() else { unreachable!() };
    p.rules[r].exprs[args[0] as usize].ty = ward_compiler::ir::Ty::Int;
    assert!(ward_compiler::ir::validate(&p).is_err());
}

/// `actor` is typed as the scope's principal by the checker, but is the
/// caller, of any principal type of the action: a tag read on an actor
/// whose type's tags are of another type is an evaluation error, never a
/// value read as the wrong type.
#[test]
fn a_tag_of_another_type_on_a_widened_actor_is_an_error() {
    let src = r#"
schema s {
  entity User tags Int
  entity Agent tags String
  entity Doc
  action read by [User, Agent] on [Doc]
}

policy p {
  @id("actor-level") permit principal: User, action: read
    when actor.has_tag("k") && actor.get_tag("k") > 1
  @id("agents") permit principal: Agent, action: read
}
"#;
    let data = json!([
        {"uid": {"type": "User", "id": "u"}, "tags": {"k": 2}},
        {"uid": {"type": "Agent", "id": "a"}, "tags": {"k": "two"}},
        {"uid": {"type": "Doc", "id": "d"}},
    ]);
    for engine in engines(src, &data) {
        let d = common::decide(&engine, common::req(("User", "u"), "read", ("Doc", "d"), json!({})));
        assert_eq!(d.effect, Effect::Allow, "{}", d.explain());
        // The agent acts for the user: for the user's link, `actor` is the agent.
        let mut r = common::req(("Agent", "a"), "read", ("Doc", "d"), json!({}));
        r["on_behalf_of"] = json!([{"type": "User", "id": "u"}]);
        let d = common::decide(&engine, r);
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
        let errors = format!("{:?}", d.errors);
        assert!(errors.contains("the tags of Agent::\\\"a\\\" are not of the type this rule reads"), "{errors}");
    }
}
