//! Bad input: malformed JSON, unknown entity types and actions, values of
//! the wrong type in entities and contexts, missing and unknown context
//! fields, entities the store does not have, huge and deeply nested input,
//! group actions requested directly. Each is refused (or decided) with a
//! clear error that names the field, the effect is deny, nothing panics, and
//! nothing is ever allowed. Requests are decided on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_runtime::data::{MAX_JSON_DEPTH, check_depth};
use ward_runtime::decision::Decision;
use ward_runtime::engine::{Backend, Engine};
use ward_runtime::request::MAX_REQUEST_BYTES;
use ward_runtime::{Effect, Request, Store};

const POLICY: &str = r#"
import stdlib.inputs

schema app {
  entity Team in [Team]
  entity User in [Team] { level: Level, tags: Set<String>, budget: Int, email?: String }
  entity Agent in [Team] { owner: User }
  entity Doc { owner: User, size: Int, secret: Bool }
  enum Level ordered { low, mid, high }
  action docs
  action read, list in [docs] by [User, Agent] on [Doc]
  action search by [User, Agent] on [Doc] with { query: String, limit?: Int, tags?: Set<String>, at?: Time }
  context { mfa?: Bool, ip?: Ip, approvals?: Set<User> }
}

policy p {
  @id("levels") permit principal: User, action in docs when principal.level >= mid
  @id("search") permit action: search
  @id("agents") permit principal: Agent, action: read
  @id("no-secrets") forbid action: read when resource.secret
  @id("no-injection") forbid action: search when context.query matches inputs.sql_injection
  @id("no-x") forbid action: search when context has tags && context.tags.contains("x")
}
"#;

fn entities() -> Json {
    json!([
        {"uid": {"type": "Team", "id": "eng"}},
        {"uid": {"type": "User", "id": "dana"}, "parents": [{"type": "Team", "id": "eng"}],
         "attrs": {"level": "high", "tags": ["a"], "budget": 10}},
        {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"owner": {"type": "User", "id": "dana"}, "size": 1, "secret": false}},
        {"uid": {"type": "Doc", "id": "d2"}, "attrs": {"owner": {"type": "User", "id": "dana"}, "size": 1, "secret": true}},
    ])
}

fn engines() -> Vec<Engine> {
    [Backend::Interpreter, Backend::Jit].into_iter().map(|b| common::engine_with(POLICY, entities(), b)).collect()
}

fn request(principal: (&str, &str), action: &str, resource: &str, context: Json) -> Json {
    common::req(principal, action, ("Doc", resource), context)
}

/// Decides `request` on both backends: the same decision, a deny, with an
/// error whose text contains every one of `needles`.
fn refused(request: &Json, needles: &[&str]) -> Decision {
    let mut first: Option<Decision> = None;
    for engine in engines() {
        let d = match Request::from_json(request) {
            Ok(r) => engine.decide(&r),
            Err(e) => Decision::refused(e.to_string()),
        };
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
        assert!(!d.errors.is_empty(), "no error named: {}", d.explain());
        for n in needles {
            assert!(d.errors.iter().any(|e| e.message.contains(n)), "no error mentions {n:?}: {:#?}", d.errors);
        }
        if let Some(f) = &first {
            assert_eq!(f, &d, "the backends disagree");
        }
        first = Some(d);
    }
    first.unwrap()
}

/// Decides a well-formed request on both backends; they must agree.
fn decided(request: &Json) -> Decision {
    let decisions: Vec<Decision> =
        engines().iter().map(|e| e.decide(&Request::from_json(request).expect("request parses"))).collect();
    assert_eq!(decisions[0], decisions[1], "the backends disagree");
    decisions[0].clone()
}

fn program() -> Arc<ward_compiler::ir::Program> {
    common::program(POLICY)
}

fn store_error(data: Json, needles: &[&str]) {
    let e = Store::load(program(), &data).expect_err("the entities are refused");
    let text = e.to_string();
    for n in needles {
        assert!(text.contains(n), "{text:?} does not mention {n:?}");
    }
}

// ───────────────────────── malformed requests ─────────────────────────

#[test]
fn malformed_json_is_refused_with_its_position() {
    for text in ["", "{", "{\"principal\": ", "[1, 2", "{\"action\": \"read\",}", "nul", "\"\u{0}\""] {
        let e = Request::from_json_str(text).expect_err("refused");
        assert_eq!(e.path, "request");
        assert!(e.message.starts_with("not valid JSON"), "{e}");
        let d = Decision::refused(e.to_string());
        assert_eq!(d.effect, Effect::Deny);
    }
    let e = Request::from_json_str("{\"principal\": {\"type\": \"User\", \"id\": \"dana\"},\n \"action\": read}")
        .expect_err("refused");
    assert!(e.message.contains("line 2"), "{e}");
}

#[test]
fn requests_of_the_wrong_shape_name_the_field() {
    let base = request(("User", "dana"), "read", "d1", json!({}));
    let cases: Vec<(Json, &str, &str)> = vec![
        (json!([]), "request", "expected an object"),
        (json!("read"), "request", "expected an object"),
        (
            {
                let mut r = base.clone();
                r.as_object_mut().unwrap().remove("principal");
                r
            },
            "principal",
            "missing",
        ),
        (
            {
                let mut r = base.clone();
                r["principal"] = json!("dana");
                r
            },
            "principal",
            "expected an entity",
        ),
        (
            {
                let mut r = base.clone();
                r["principal"] = json!({"type": "User"});
                r
            },
            "principal",
            "`type` and `id`",
        ),
        (
            {
                let mut r = base.clone();
                r["resource"] = json!({"type": 1, "id": "d1"});
                r
            },
            "resource.type",
            "expected a string, found a number",
        ),
        (
            {
                let mut r = base.clone();
                r["action"] = json!(7);
                r
            },
            "action",
            "expected an action name",
        ),
        (
            {
                let mut r = base.clone();
                r.as_object_mut().unwrap().remove("action");
                r
            },
            "action",
            "missing",
        ),
        (
            {
                let mut r = base.clone();
                r["context"] = json!([1]);
                r
            },
            "context",
            "expected an object",
        ),
        (
            {
                let mut r = base.clone();
                r["on_behalf_of"] = json!({"type": "User"});
                r
            },
            "on_behalf_of",
            "expected an array",
        ),
        (
            {
                let mut r = base.clone();
                r["on_behalf_of"] = json!([{"type": "User", "id": 3}]);
                r
            },
            "on_behalf_of[0].id",
            "expected a string, found a number",
        ),
        (
            {
                let mut r = base.clone();
                r["session"] = json!(5);
                r
            },
            "session",
            "expected a string",
        ),
        (
            {
                let mut r = base.clone();
                r["principle"] = json!({"type": "User", "id": "dana"});
                r
            },
            "principle",
            "not a request field",
        ),
    ];
    for (json, path, message) in cases {
        let e = Request::from_json(&json).expect_err(&format!("{json} is refused"));
        assert_eq!(e.path, path, "{e}");
        assert!(e.message.contains(message), "{e}");
        refused(&json, &[&format!("{path}: ")]);
    }
}

#[test]
fn unknown_entity_types_and_actions_suggest_a_name() {
    refused(
        &request(("Usr", "dana"), "read", "d1", json!({})),
        &["principal: unknown entity type `Usr`", "did you mean `User`?"],
    );
    refused(
        &common::req(("User", "dana"), "read", ("Dok", "d1"), json!({})),
        &["resource: unknown entity type `Dok`", "did you mean `Doc`?"],
    );
    refused(
        &request(("User", "dana"), "raed", "d1", json!({})),
        &["action: unknown action `raed`", "did you mean `read`?"],
    );
    refused(&request(("User", "dana"), "delete", "d1", json!({})), &["action: unknown action `delete`"]);
    let mut r = request(("User", "dana"), "read", "d1", json!({}));
    r["on_behalf_of"] = json!([{"type": "Usr", "id": "eve"}]);
    refused(&r, &["on_behalf_of[0]: unknown entity type `Usr`"]);
    // A type the action does not take.
    refused(
        &common::req(("Doc", "d1"), "read", ("Doc", "d1"), json!({})),
        &["principal: `read` does not accept a `Doc`"],
    );
    refused(
        &common::req(("User", "dana"), "read", ("User", "dana"), json!({})),
        &["resource: `read` does not accept a `User`"],
    );
    // A group of actions is not an action.
    refused(
        &request(("User", "dana"), "docs", "d1", json!({})),
        &["action: `docs` is a group of actions and cannot be requested"],
    );
}

// ───────────────────────── contexts ─────────────────────────

#[test]
fn context_values_of_the_wrong_type_name_the_field() {
    let search = |context: Json| request(("User", "dana"), "search", "d1", context);
    refused(&search(json!({"query": 5})), &["context.query: expected a string, found a number"]);
    refused(&search(json!({"query": "q", "limit": "10"})), &["context.limit: expected an integer, found a string"]);
    refused(&search(json!({"query": "q", "limit": 1.5})), &["context.limit: expected an integer"]);
    refused(
        &search(json!({"query": "q", "limit": 9_223_372_036_854_775_808_u64})),
        &["context.limit: expected an integer"],
    );
    refused(&search(json!({"query": "q", "tags": "x"})), &["context.tags: expected an array, found a string"]);
    refused(&search(json!({"query": "q", "tags": ["a", 1]})), &["context.tags[1]: expected a string, found a number"]);
    refused(&search(json!({"query": "q", "at": "yesterday"})), &["context.at: "]);
    refused(&search(json!({"query": "q", "mfa": "yes"})), &["context.mfa: expected a boolean, found a string"]);
    refused(&search(json!({"query": "q", "ip": "10.0.0.300"})), &["context.ip: "]);
    refused(
        &search(json!({"query": "q", "approvals": [{"type": "Doc", "id": "d1"}]})),
        &["context.approvals[0]: expected an entity of type User, found `Doc`"],
    );
    refused(&search(json!({"query": "q", "approvals": ["dana"]})), &["context.approvals[0]: expected an entity"]);
    refused(&search(json!({"query": "q", "mfa": null})), &["context.mfa: expected a boolean, found null"]);
}

#[test]
fn missing_and_unknown_context_fields_are_refused() {
    let search = |context: Json| request(("User", "dana"), "search", "d1", context);
    refused(&search(json!({})), &["context.query: missing (the schema requires it)"]);
    refused(
        &search(json!({"query": "q", "limitt": 3})),
        &["context.limitt: not declared in the schema", "did you mean `limit`?"],
    );
    refused(&search(json!({"query": "q", "zzz": 3})), &["context.zzz: not declared in the schema (declared: "]);
    // `read` has no arguments: `query` belongs to `search`.
    refused(
        &request(("User", "dana"), "read", "d1", json!({"query": "q"})),
        &["context.query: not declared in the schema"],
    );
}

// ───────────────────────── entities ─────────────────────────

#[test]
fn entity_data_of_the_wrong_shape_names_the_entity_and_field() {
    let user = |attrs: Json| json!([{"uid": {"type": "User", "id": "dana"}, "attrs": attrs}]);
    store_error(
        user(json!({"level": 3, "tags": [], "budget": 1})),
        &["User::\"dana\".level", "expected a value of `Level`"],
    );
    store_error(
        user(json!({"level": "top", "tags": [], "budget": 1})),
        &["User::\"dana\".level", "`top` is not a value of `Level`"],
    );
    store_error(
        user(json!({"level": "low", "tags": [1], "budget": 1})),
        &["User::\"dana\".tags[0]", "expected a string"],
    );
    store_error(user(json!({"level": "low", "tags": []})), &["User::\"dana\".budget", "missing"]);
    store_error(
        user(json!({"level": "low", "tags": [], "budget": 1, "emial": "x"})),
        &["User::\"dana\".emial", "did you mean `email`?"],
    );
    store_error(
        user(json!({"level": "low", "tags": [], "budget": "1"})),
        &["User::\"dana\".budget", "expected an integer"],
    );
    store_error(
        json!([{"uid": {"type": "Usr", "id": "dana"}}]),
        &["entities[0].uid.type", "unknown entity type `Usr`", "did you mean `User`?"],
    );
    store_error(json!([{"uid": {"type": "User"}}]), &["entities[0].uid", "`type` and `id`"]);
    store_error(json!([{"attrs": {}}]), &["entities[0]", "missing `uid`"]);
    store_error(json!({"uid": {"type": "User", "id": "dana"}}), &["entities", "expected an array"]);
    store_error(
        json!([{"uid": {"type": "Doc", "id": "d"}, "attrs": {"owner": {"type": "Doc", "id": "d"}, "size": 1, "secret": true}}]),
        &["Doc::\"d\".owner", "expected an entity of type User, found `Doc`"],
    );
    store_error(
        json!([{"uid": {"type": "User", "id": "dana"}, "parents": [{"type": "Doc", "id": "d1"}]}]),
        &["entities[0].parents[0]", "does not allow a `User` to be in a `Doc`"],
    );
    store_error(
        json!([{"uid": {"type": "Team", "id": "t"}, "parents": {"type": "Team", "id": "u"}}]),
        &["entities[0].parents", "expected an array"],
    );
    store_error(
        json!([{"uid": {"type": "Team", "id": "t"}}, {"uid": {"type": "Team", "id": "t"}}]),
        &["entities[1]", "listed twice"],
    );
}

#[test]
fn entities_the_store_does_not_have_never_widen_access() {
    // An unknown principal: its attributes are absent, so `levels` cannot apply.
    let d = decided(&request(("User", "ghost"), "read", "d1", json!({})));
    assert_eq!(d.effect, Effect::Deny);
    assert!(
        d.errors.iter().any(|e| e.message.contains("attribute `level` is absent on User::\"ghost\"")),
        "{:?}",
        d.errors
    );
    // An unknown resource: the forbid that reads it applies.
    let d = decided(&common::req(("Agent", "bot"), "read", ("Doc", "nowhere"), json!({})));
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.reasons[0].rule.as_deref(), Some("p.no-secrets"));
    assert!(d.errors.iter().any(|e| e.message.contains("`secret` is absent on Doc::\"nowhere\"")), "{:?}", d.errors);
    // An unknown link in the chain is evaluated like any other principal.
    let mut r = request(("User", "dana"), "list", "d1", json!({}));
    r["on_behalf_of"] = json!([{"type": "User", "id": "ghost"}]);
    let d = decided(&r);
    assert_eq!(d.effect, Effect::Deny);
    assert!(d.reasons.iter().any(|x| x.principal.as_deref() == Some("User::\"ghost\"")), "{}", d.explain());
    // An entity referenced by an attribute but never listed has no attributes.
    let data = json!([
        {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"owner": {"type": "User", "id": "nobody"}, "size": 1, "secret": false}},
    ]);
    let src = POLICY.replace(
        "@id(\"agents\") permit principal: Agent, action: read",
        "@id(\"agents\") permit principal: Agent, action: read when resource.owner.level >= low",
    );
    for backend in [Backend::Interpreter, Backend::Jit] {
        let e = common::engine_with(&src, data.clone(), backend);
        let d =
            e.decide(&Request::from_json(&common::req(("Agent", "bot"), "read", ("Doc", "d1"), json!({}))).unwrap());
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
        assert!(d.errors.iter().any(|x| x.message.contains("`level` is absent on User::\"nobody\"")), "{:?}", d.errors);
    }
}

// ───────────────────────── size and depth ─────────────────────────

#[test]
fn huge_request_text_is_refused_before_it_is_parsed() {
    let big = "x".repeat(MAX_REQUEST_BYTES);
    let text = json!({"principal": {"type": "User", "id": "dana"}, "action": "search",
        "resource": {"type": "Doc", "id": "d1"}, "context": {"query": big}})
    .to_string();
    let e = Request::from_json_str(&text).expect_err("refused");
    assert_eq!(e.path, "request");
    assert!(e.message.contains("larger than the limit"), "{e}");
    assert_eq!(Decision::refused(e.to_string()).effect, Effect::Deny);
}

#[test]
fn huge_contexts_are_decided_without_trouble() {
    // A 1 MB string (under the typed API, which has no text to measure) is scanned by detectors.
    let mut big = "a".repeat(1 << 20);
    let search = |q: &str| request(("User", "dana"), "search", "d1", json!({ "query": q }));
    assert_eq!(decided(&search(&big)).effect, Effect::Allow);
    big.push_str("' OR 1=1 --");
    let d = decided(&search(&big));
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.reasons[0].rule.as_deref(), Some("p.no-injection"));
    // A set of 10,000 elements.
    let mut tags: Vec<Json> = (0..10_000).map(|i| Json::String(format!("tag-{i}"))).collect();
    let with_tags = |tags: &Vec<Json>| request(("User", "dana"), "search", "d1", json!({ "query": "q", "tags": tags }));
    assert_eq!(decided(&with_tags(&tags)).effect, Effect::Allow);
    tags.push(json!("x"));
    let d = decided(&with_tags(&tags));
    assert_eq!(d.effect, Effect::Deny);
    assert_eq!(d.reasons[0].rule.as_deref(), Some("p.no-x"));
    // 10,000 approvers, most of them unknown to the store.
    let approvals: Vec<Json> = (0..10_000).map(|i| json!({"type": "User", "id": format!("u{i}")})).collect();
    let r = request(("User", "dana"), "search", "d1", json!({ "query": "q", "approvals": approvals }));
    assert_eq!(decided(&r).effect, Effect::Allow);
}

/// `[[[…"x"…]]]`, `depth` arrays deep, built without recursion.
fn nested(depth: usize) -> Json {
    let mut v = Json::String("x".into());
    for _ in 0..depth {
        v = Json::Array(vec![v]);
    }
    v
}

/// Drops a deeply nested value without recursion (serde_json's drop recurses).
fn dismantle(mut v: Json) {
    loop {
        v = match v {
            Json::Array(mut items) => match items.pop() {
                Some(inner) => inner,
                None => return,
            },
            Json::Object(map) => match map.into_iter().next() {
                Some((_, inner)) => inner,
                None => return,
            },
            _ => return,
        };
    }
}

#[test]
fn deeply_nested_json_text_is_refused_by_the_parser() {
    let deep = format!("{}\"x\"{}", "[".repeat(10_000), "]".repeat(10_000));
    let text = format!(
        "{{\"principal\": {{\"type\": \"User\", \"id\": \"dana\"}}, \"action\": \"search\", \
         \"resource\": {{\"type\": \"Doc\", \"id\": \"d1\"}}, \"context\": {{\"query\": {deep}}}}}"
    );
    let e = Request::from_json_str(&text).expect_err("refused");
    assert!(e.path.starts_with("context.query[0][0]"), "{e}");
    assert!(e.message.contains(&format!("nested more than {MAX_JSON_DEPTH} levels deep")), "{e}");
    // Entity files are parsed the same way (the CLI reads them with `Store::load_str`).
    let entities = format!("[{{\"uid\": {{\"type\": \"User\", \"id\": \"dana\"}}, \"attrs\": {{\"tags\": {deep}}}}}]");
    let e = Store::load_str(program(), &entities).expect_err("refused");
    assert!(e.path.starts_with("entities[0].attrs.tags[0]"), "{e}");
}

#[test]
fn deeply_nested_values_in_memory_are_refused_without_recursion() {
    // Built in memory, a value can be deeper than serde_json would ever parse.
    let mut context = serde_json::Map::new();
    context.insert("query".into(), nested(10_000));
    let mut r = request(("User", "dana"), "search", "d1", json!({}));
    r["context"] = Json::Object(context);
    let e = Request::from_json(&r).expect_err("refused");
    assert_eq!(e.path, "context.query");
    assert!(e.message.contains(&format!("nested more than {MAX_JSON_DEPTH} levels")), "{e}");
    dismantle(r);
    // The same in entity data.
    let mut attrs = serde_json::Map::new();
    attrs.insert("tags".into(), nested(10_000));
    let mut entity = json!({"uid": {"type": "User", "id": "dana"}});
    entity["attrs"] = Json::Object(attrs);
    let data = Json::Array(vec![entity]);
    let e = Store::load(program(), &data).expect_err("refused");
    assert_eq!(e.path, "entities[0].attrs");
    // The same entity in a patch: refused before it is copied.
    // (Built by hand: `json!` would serialise the value, recursively.)
    let mut fields = serde_json::Map::new();
    fields.insert("upsert".into(), data);
    let patch = Json::Object(fields);
    let e = ward_runtime::EntityPatch::from_json(&patch).expect_err("refused");
    assert_eq!(e.path, "upsert[0].attrs");
    let Json::Object(mut fields) = patch else { unreachable!() };
    let data = fields.remove("upsert").expect("the list");
    dismantle(data);
    // Just under the limit, the value is read and refused for its type, by path.
    let mut context = serde_json::Map::new();
    context.insert("tags".into(), nested(MAX_JSON_DEPTH - 2));
    context.insert("query".into(), json!("q"));
    let mut r = request(("User", "dana"), "search", "d1", json!({}));
    r["context"] = Json::Object(context);
    refused(&r, &["context.tags[0]: expected a string, found an array"]);
    // A typed value nested past the schema's limit is refused by the reader.
    assert!(check_depth(&nested(MAX_JSON_DEPTH - 1), "x").is_ok());
    assert!(check_depth(&nested(MAX_JSON_DEPTH), "x").is_err());
}

#[test]
fn no_panic_and_no_allow_on_scrambled_requests() {
    // Every field of a valid request replaced by values of every other shape.
    let good = request(("User", "dana"), "search", "d1", json!({"query": "q", "limit": 1, "tags": ["a"], "mfa": true}));
    let shapes = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1.5),
        json!(""),
        json!("dana"),
        json!([]),
        json!([null]),
        json!({}),
        json!({"type": "User", "id": "dana"}),
        json!({"__entity": {"type": "User", "id": "dana"}}),
        json!({"__extn": {"fn": "ip", "arg": "10.0.0.1"}}),
    ];
    let engines = engines();
    let mut variants = Vec::new();
    for key in ["principal", "action", "resource", "context", "on_behalf_of", "session"] {
        for s in &shapes {
            let mut r = good.clone();
            r[key] = s.clone();
            variants.push(r);
        }
    }
    for key in ["query", "limit", "tags", "mfa", "ip", "approvals", "at"] {
        for s in &shapes {
            let mut r = good.clone();
            r["context"][key] = s.clone();
            variants.push(r);
        }
    }
    let mut refusals = 0;
    for r in &variants {
        let decisions: Vec<Decision> = engines
            .iter()
            .map(|e| match Request::from_json(r) {
                Ok(req) => e.decide(&req),
                Err(err) => Decision::refused(err.to_string()),
            })
            .collect();
        assert_eq!(decisions[0], decisions[1], "{r}");
        let d = &decisions[0];
        if d.effect == Effect::Allow {
            // Only shapes that are valid for the field may be allowed.
            assert!(d.errors.is_empty(), "{r}: {}", d.explain());
        } else if !d.errors.is_empty() {
            refusals += 1;
            assert_eq!(d.effect, Effect::Deny, "{r}: {}", d.explain());
        }
    }
    assert!(refusals > variants.len() / 2, "{refusals} of {}", variants.len());
}

/// An action's result (result flows, docs/language.md §10.1): nested too
/// deep, it is refused unread and the flow marked unknown; very wide, only
/// the fields its type declares are read, in time linear in its size.
#[test]
fn huge_and_deep_results_are_bounded() {
    use ward_runtime::ActionResult;
    let src = r#"
schema s {
  entity Agent
  entity Doc
  type Node = { next?: Set<String> }
  action read by [Agent] on [Doc] returns { tier: String, node?: Node }
  action send by [Agent] on [Doc]
}
policy p {
  @id("all") permit
  @id("after") forbid action: send when previously within 1h action: read where response.tier == "vip"
}
"#;
    for backend in [Backend::Interpreter, Backend::Jit] {
        let e = common::engine_with(src, json!([]), backend);
        let read = Request::from_json(&common::req(("Agent", "a"), "read", ("Doc", "d"), json!({}))).unwrap();
        let send = Request::from_json(&common::req(("Agent", "a"), "send", ("Doc", "d"), json!({}))).unwrap();
        // Deeper than any value may nest: refused before it is read.
        let mut deep = json!("leaf");
        for _ in 0..(MAX_JSON_DEPTH + 10) {
            deep = json!({ "tier": "standard", "node": deep });
        }
        let r = e.record_result_at(&read, ActionResult::Json(&deep), common::NOON);
        assert!(r.unreadable[0].1.contains("nested more than"), "{r:?}");
        assert_effect_is_deny(&e.decide_at(&send, common::NOON + 1));
        // 200,000 fields the type does not declare, and the one it does.
        let mut wide = serde_json::Map::new();
        for i in 0..200_000 {
            wide.insert(format!("field{i}"), json!(i));
        }
        wide.insert("tier".into(), json!("vip"));
        let wide = Json::Object(wide);
        let later = common::NOON + 2 * 3_600_000;
        let started = std::time::Instant::now();
        let r = e.record_result_at(&send_free(&read), ActionResult::Json(&wide), later);
        let took = started.elapsed();
        assert_eq!(r.facts, ["p.after/previously"], "{r:?}");
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        println!("a result of 200,000 undeclared fields recorded in {took:?} ({backend:?})");
    }
}

/// The same request in another session (the unknown mark of the first is its own).
fn send_free(read: &Request) -> Request {
    let mut r = read.clone();
    r.session = Some("other".into());
    r
}

fn assert_effect_is_deny(d: &Decision) {
    assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
    assert!(d.errors.iter().any(|e| e.message.contains("could not be read")), "{}", d.explain());
}
