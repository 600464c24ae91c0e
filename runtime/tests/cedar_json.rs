//! Cedar's request and entity JSON as it is (issue 17): entity references
//! as `T::"id"` strings, `{"type", "id"}` and `__entity`; extension values
//! as `__extn` or `{"fn", "arg"}`; Cedar's datetime and duration forms;
//! `Action` entities in entity files; tags on a type that declares none
//! refused (never dropped; runtime/tests/tags.rs reads declared ones). Each
//! refusal names the place and the problem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use serde_json::{Value as Json, json};
use ward_runtime::engine::{Backend, Engine};
use ward_runtime::{Effect, Request, Store};

const SRC: &str = r#"
schema s {
  entity Team
  entity User in [Team] { manager?: User }
  entity Doc { owner: User }
  action reads
  action view in [reads] by [User] on [Doc]
    with { at: Time, ttl: Duration, amount: Decimal, from: Ip, day?: Time }
  action edit by [User] on [Doc]
}

policy p {
  @id("view") permit action: view
    when resource.owner == principal
      && context.at == 2024-10-15T16:35:00Z
      && context.ttl == -(5h)
      && context.amount == decimal("1.5")
      && context.from == ip("10.0.0.1")
      && (!(context has day) || context.day == 2024-10-15T00:00:00Z)
  @id("edit") permit action: edit when principal has manager && principal.manager == User::"a\"b"
}
"#;

fn entities() -> Json {
    json!([
        {"uid": "User::\"alice\"", "attrs": {"manager": "User::\"a\\\"b\""}, "parents": ["Team::\"t\""]},
        {"uid": {"__entity": {"type": "User", "id": "a\"b"}}, "tags": {}},
        {"uid": {"type": "Team", "id": "t"}},
        {"uid": {"type": "Doc", "id": "d"}, "attrs": {"owner": {"__entity": {"type": "User", "id": "alice"}}}},
        {"uid": {"type": "Action", "id": "view"}, "attrs": {}, "parents": [{"type": "Action", "id": "reads"}]},
        {"uid": "Action::\"edit\"", "parents": []},
    ])
}

fn engines(data: Json) -> Vec<Engine> {
    [Backend::Interpreter, Backend::Jit].into_iter().map(|b| common::engine_with(SRC, data.clone(), b)).collect()
}

fn view_context() -> Json {
    json!({
        "at": {"fn": "datetime", "arg": "2024-10-15T11:35:00-0500"},
        "ttl": "-5h",
        "amount": {"__extn": {"fn": "decimal", "arg": "1.5"}},
        "from": {"fn": "ip", "arg": "10.0.0.1"},
        "day": {"__extn": {"fn": "datetime", "arg": "2024-10-15"}},
    })
}

#[test]
fn cedar_requests_and_entities_decide_unchanged() {
    for engine in engines(entities()) {
        let request = json!({
            "principal": "User::\"alice\"",
            "action": "Action::\"view\"",
            "resource": {"__entity": {"type": "Doc", "id": "d"}},
            "context": view_context(),
        });
        let d = engine.decide(&Request::from_json(&request).expect("Cedar's request forms are read"));
        assert_eq!(d.effect, Effect::Allow, "{}", d.explain());
        // The same request with `{"type", "id"}` for the action, and a duration in Cedar's long form that differs.
        let mut other = request.clone();
        other["action"] = json!({"type": "Action", "id": "view"});
        other["context"]["ttl"] = json!({"fn": "duration", "arg": "1d2h3m4s5ms"});
        let d = engine.decide(&Request::from_json(&other).unwrap());
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
        // An escaped quote in an id, in an attribute and in a policy literal alike.
        let edit = json!({"principal": "User::\"alice\"", "action": "edit", "resource": "Doc::\"d\"", "context": {}});
        let d = engine.decide(&Request::from_json(&edit).unwrap());
        assert_eq!(d.effect, Effect::Allow, "{}", d.explain());
    }
}

#[test]
fn malformed_entity_reference_strings_are_refused_naming_the_field() {
    let base = json!({"principal": "User::\"alice\"", "action": "edit", "resource": "Doc::\"d\"", "context": {}});
    for (field, value, words) in [
        ("principal", json!("User::alice"), "expected an entity such as"),
        ("principal", json!("User::\"alice\"junk"), "nothing after it"),
        ("principal", json!("1User::\"alice\""), "the type must be a name"),
        ("principal", json!("::\"alice\""), "the type must be a name"),
        ("resource", json!("Doc::\"a\"b\""), "must be escaped"),
        ("resource", json!("Doc::\"a\\q\""), "unknown escape"),
        ("resource", json!("Doc::\"a\\u{110000}\""), "\\u"),
        ("action", json!("Doc::\"edit\""), "found an entity of type `Doc`"),
    ] {
        let mut r = base.clone();
        r[field] = value.clone();
        let e = Request::from_json(&r).expect_err(&format!("{value} is refused"));
        assert_eq!(e.path, field, "{e}");
        assert!(e.message.contains(words), "{value}: {e}");
    }
    // A Cedar string id with escapes reads as the id it spells.
    let mut r = base.clone();
    r["principal"] = json!("User::\"tab\\there \\u{e9}\"");
    assert_eq!(Request::from_json(&r).unwrap().principal.id, "tab\there \u{e9}");
}

#[test]
fn cedar_values_out_of_shape_are_refused_naming_the_path() {
    let engine = common::engine_with(SRC, entities(), Backend::Interpreter);
    for (key, value, words) in [
        ("at", json!({"fn": "datetime", "arg": "2024-10-15T11:35:00-05"}), "not a valid time"),
        ("at", json!({"fn": "duration", "arg": "5h"}), "expected a time"),
        ("at", json!({"fn": "datetime", "arg": "2024-10-15", "extra": 1}), "expected a time"),
        ("ttl", json!("--5h"), "not a duration unit"),
        ("ttl", json!("-"), "empty duration"),
        ("amount", json!({"__extn": {"fn": "decimal", "arg": "1.5"}, "x": 1}), "expected a decimal"),
    ] {
        let mut context = view_context();
        context[key] = value.clone();
        let request =
            json!({"principal": "User::\"alice\"", "action": "view", "resource": "Doc::\"d\"", "context": context});
        let d = engine.decide(&Request::from_json(&request).unwrap());
        assert_eq!(d.effect, Effect::Deny);
        let text = d.explain();
        assert!(text.contains(&format!("context.{key}")) && text.contains(words), "{value}: {text}");
    }
}

fn load_error(data: Json) -> String {
    let program = common::program(SRC);
    match Store::load(program, &data) {
        Ok(_) => panic!("loaded: {data}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn action_entities_must_say_what_the_schema_says() {
    let with = |item: Json| {
        let mut data = entities();
        data.as_array_mut().unwrap().push(item);
        data
    };
    let e = load_error(with(json!({"uid": {"type": "Action", "id": "vew"}})));
    assert!(e.contains("entities[6].uid.id") && e.contains("no such action") && e.contains("view"), "{e}");
    let e = load_error(with(json!({"uid": "Action::\"edit\"", "parents": ["Action::\"reads\""]})));
    assert!(e.contains("entities[6].parents[0]") && e.contains("does not put action `edit` in a group `reads`"), "{e}");
    let e = load_error(with(json!({"uid": "Action::\"edit\"", "attrs": {"risk": 1}})));
    assert!(e.contains("entities[6].attrs") && e.contains("Action::\"edit\""), "{e}");
}

#[test]
fn tags_on_a_type_that_declares_none_are_refused_naming_the_entity_and_the_tag() {
    let mut data = entities();
    data[2]["tags"] = json!({"clearance": "high"});
    let e = load_error(data);
    assert!(e.contains("entities[2].tags.clearance"), "{e}");
    assert!(e.contains("Team::\"t\"") && e.contains("declares no tags for `Team`"), "{e}");
    assert!(e.contains("refused rather than dropped"), "{e}");
    let mut data = entities();
    data[2]["tags"] = json!(["x"]);
    assert!(load_error(data).contains("entities[2].tags: expected an object"));
}
