//! The typed request builder (`Engine::request`) and the direct JSON reader
//! (`Engine::check_json_at`) against `Engine::check_at(&Request)`: on
//! generated programs, entities and request sequences (`generator/mod.rs`),
//! malformed on purpose now and then (unknown actions and entity types,
//! types an action does not accept, context fields of the wrong type,
//! missing and undeclared), each request is decided three ways — from the
//! `Request`, from the builder, from the JSON text — by separate engines
//! (flow and rate-limit state advance per engine), on both backends; the
//! decisions, refusals' messages included, must be identical, and the
//! text the general reader refuses must be refused with the same error.
//!
//! `WARD_BUILDER_PROGRAMS` (default 40) programs of `WARD_BUILDER_REQUESTS`
//! (default 300) requests from `WARD_BUILDER_SEED`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
mod generator;

use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward_runtime::{Decision, FieldValue, Request, Store};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `json` as a builder value: sets, records and entity references as
/// themselves (or, now and then, as the JSON they stand for), scalars as
/// Rust values. Slices are leaked: a test's worth of small values.
fn field(json: &Json, rng: &mut generator::Rng) -> FieldValue<'static> {
    let json: &'static Json = Box::leak(Box::new(json.clone()));
    if rng.chance(15) {
        return FieldValue::Json(json);
    }
    match json {
        Json::Bool(b) => FieldValue::Bool(*b),
        Json::Number(n) if n.is_i64() => FieldValue::Int(n.as_i64().unwrap()),
        Json::String(s) => match s.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.to_string() == *s && rng.chance(50) => FieldValue::Ip(ip),
            _ => FieldValue::Str(s),
        },
        Json::Array(items) => {
            let items: Vec<FieldValue<'static>> = items.iter().map(|i| field(i, rng)).collect();
            FieldValue::Set(Box::leak(items.into_boxed_slice()))
        }
        Json::Object(o) => match (o.len(), o.get("type"), o.get("id")) {
            (2, Some(Json::String(t)), Some(Json::String(id))) => FieldValue::Entity(t, id),
            _ if o.contains_key("__entity") || o.contains_key("__extn") => FieldValue::Json(json),
            _ => {
                let fields: Vec<(&'static str, FieldValue<'static>)> =
                    o.iter().map(|(k, v)| (k.as_str(), field(v, rng))).collect();
                FieldValue::Record(Box::leak(fields.into_boxed_slice()))
            }
        },
        other => FieldValue::Json(other),
    }
}

/// `request` decided through the builder, its parts given in the order a
/// `Request` lays them out; half the time with the entity types and the
/// context fields resolved once as handles (`TypeId`, `FieldId`), now
/// and then a field's handle taken from another action that declares a
/// field of that name (which must be looked up by name again, never used
/// as a slot of this action's context).
fn through_builder(engine: &Engine, request: &Request, now: i64, rng: &mut generator::Rng) -> Decision {
    let action = engine.action(&request.action).ok();
    let mut b = engine.request(&request.action);
    if rng.chance(50)
        && let Some(id) = &action
    {
        b = engine.request(id);
    }
    let resolve = rng.chance(50);
    let ty = |name: &str| if resolve { engine.entity_type(name).ok() } else { None };
    b = match ty(&request.principal.ty) {
        Some(t) => b.principal(&t, &request.principal.id),
        None => b.principal(&request.principal.ty, &request.principal.id),
    };
    b = match ty(&request.resource.ty) {
        Some(t) => b.resource(&t, &request.resource.id),
        None => b.resource(&request.resource.ty, &request.resource.id),
    };
    for uid in &request.on_behalf_of {
        b = b.on_behalf_of(&uid.ty, &uid.id);
    }
    if let Some(s) = &request.session {
        b = b.session(s);
    }
    let others: Vec<String> = engine
        .loaded()
        .program()
        .actions
        .iter()
        .filter(|a| !a.is_group && a.name != request.action)
        .map(|a| a.name.clone())
        .collect();
    if let Json::Object(fields) = &request.context {
        for (k, v) in fields {
            let v = field(v, rng);
            let handle = if !resolve {
                None
            } else if rng.chance(25) {
                others.iter().find_map(|o| engine.action(o).ok()?.field(k).ok())
            } else {
                action.as_ref().and_then(|a| a.field(k).ok())
            };
            b = match &handle {
                Some(f) => b.context(f, v),
                None => b.context(k, v),
            };
        }
    }
    b.decide_at(now)
}

/// Malforms `req` now and then, in the ways a caller gets a request wrong.
fn mutate(req: &mut Json, rng: &mut generator::Rng) {
    let wrong =
        [json!(true), json!(7), json!("x"), json!([1]), json!({"type": "User", "id": "u1"}), json!(1.5), json!(null)];
    match rng.below(40) {
        0 => req["action"] = json!("nope"),
        1 => {
            if let Some(p) = req["principal"].as_object_mut() {
                p.insert("type".into(), json!("Nope"));
            }
        }
        2 => {
            let p = req["principal"].clone();
            req["principal"] = req["resource"].clone();
            req["resource"] = p;
        }
        3..=6 => {
            if let Some(ctx) = req["context"].as_object_mut()
                && !ctx.is_empty()
            {
                let key = ctx.keys().nth(rng.below(ctx.len())).unwrap().clone();
                ctx.insert(key, rng.pick(&wrong).clone());
            }
        }
        7 | 8 => {
            if let Some(ctx) = req["context"].as_object_mut()
                && !ctx.is_empty()
            {
                let key = ctx.keys().nth(rng.below(ctx.len())).unwrap().clone();
                ctx.remove(&key);
            }
        }
        9 => {
            let key = if rng.chance(50) { "aaa" } else { "zzz" };
            if let Some(ctx) = req["context"].as_object_mut() {
                ctx.insert(key.into(), json!(1));
            }
        }
        10 => req["context"] = json!(null),
        11 => {
            if let Some(r) = req["resource"].as_object_mut() {
                r.insert("id".into(), json!("never-listed"));
            }
        }
        _ => {}
    }
}

/// The request's text, in one of the orders and forms callers send.
fn text_of(req: &Json, rng: &mut generator::Rng) -> String {
    let part = |k: &str| req.get(k).map(|v| format!("\"{k}\": {v}"));
    let action = req["action"].as_str().unwrap_or("").to_string();
    let cedar_action = format!("\"action\": {}", json!({"type": "Action", "id": action}));
    let keys: Vec<Option<String>> = match rng.below(10) {
        // serde_json's order (sorted: the action before the context).
        0..=4 => return req.to_string(),
        5..=7 => vec![
            part("principal"),
            part("action"),
            part("resource"),
            part("context"),
            part("on_behalf_of"),
            part("session"),
        ],
        8 => vec![part("principal"), Some(cedar_action), part("resource"), part("context"), part("session")],
        // The context before the action: read the general way.
        _ => vec![part("context"), part("principal"), part("action"), part("resource"), part("session")],
    };
    let keys: Vec<String> = keys.into_iter().flatten().collect();
    format!("{{{}}}", keys.join(", "))
}

#[test]
fn builder_and_json_text_decide_as_the_request() {
    let programs = env_or("WARD_BUILDER_PROGRAMS", 40);
    let requests = env_or("WARD_BUILDER_REQUESTS", 300) as usize;
    let base = env_or("WARD_BUILDER_SEED", 0x4255_494c_0000);
    let (mut compared, mut refused, mut unreadable) = (0usize, 0usize, 0usize);
    for seed in base..base + programs {
        let case = generator::generate(seed, requests);
        let Ok(program) = generator::compile(&case.source) else { continue };
        let Ok(store) = Store::load(Arc::clone(&program), &case.entities) else { continue };
        drop(store);
        for backend in [Backend::Jit, Backend::Interpreter] {
            let engine = || {
                let store = Store::load(Arc::clone(&program), &case.entities).unwrap();
                let loaded = Loaded::new(Arc::clone(&program), store, backend == Backend::Jit);
                Engine::new(loaded, Arc::new(FixedClock::new(generator::NOON)), backend)
            };
            let (by_request, by_builder, by_text) = (engine(), engine(), engine());
            let mut rng = generator::Rng::new(seed ^ 0xB11D);
            for (i, (now, json)) in case.requests.iter().enumerate() {
                let mut json = json.clone();
                mutate(&mut json, &mut rng);
                let text = text_of(&json, &mut rng);
                let at = || format!("seed {seed}, {backend:?}, request #{i}: {text}\n--- program ---\n{}", case.source);
                let via_text = by_text.check_json_at(&text, *now).map(|c| c.decision());
                match Request::from_json_str(&text) {
                    Ok(request) => {
                        let expected = by_request.decide_at(&request, *now);
                        let built = through_builder(&by_builder, &request, *now, &mut rng);
                        assert_eq!(built, expected, "builder: {}", at());
                        assert_eq!(via_text.as_ref().ok(), Some(&expected), "JSON text: {}", at());
                        compared += 1;
                        refused += usize::from(expected.reasons.iter().any(|r| r.clause.contains("refused")));
                    }
                    Err(e) => {
                        let got = via_text.err().unwrap_or_else(|| panic!("JSON text accepted: {}", at()));
                        assert_eq!((got.path, got.message), (e.path, e.message), "{}", at());
                        unreadable += 1;
                    }
                }
            }
        }
    }
    println!(
        "request builder: {compared} requests compared ({refused} refused by the schema), {unreadable} texts refused"
    );
    assert!(compared > 1000, "only {compared} requests compared");
    assert!(refused > 50, "only {refused} refused: the malformed cases are not reached");
}

/// Errors through the builder are those of the `Request`, in its order,
/// whatever order the builder was called in.
#[test]
fn builder_errors_name_the_place_and_come_in_request_order() {
    let src = "schema s {\n  entity User { level: Int }\n  entity Doc\n  action read by [User] on [Doc] with { amount: Int, mfa: Bool, note?: String }\n  action write by [User] on [Doc]\n}\npolicy p {\n  permit principal: User, action: read, resource: Doc when context.mfa\n}\n";
    let entities = json!([{"uid": {"type": "User", "id": "u1"}, "attrs": {"level": 1}, "parents": []},
                          {"uid": {"type": "Doc", "id": "d1"}, "attrs": {}, "parents": []}]);
    for backend in [Backend::Jit, Backend::Interpreter] {
        let engine = common::engine_with(src, entities.clone(), backend);
        let refusal = |d: Decision| d.reasons.first().map(|r| r.clause.clone()).unwrap_or_default();
        let request = |ctx: Json| {
            Request::new(ward_runtime::EntityUid::new("User", "u1"), "read", ward_runtime::EntityUid::new("Doc", "d1"))
                .with_context(ctx)
        };
        let ok = engine
            .request("read")
            .principal("User", "u1")
            .resource("Doc", "d1")
            .context("amount", 3)
            .context("mfa", true);
        assert!(ok.decide_at(common::NOON).is_allowed());
        // A wrong type and an undeclared field: the `Request` names `amount` (first by name).
        let built = engine
            .request("read")
            .context("zeta", 1)
            .context("mfa", true)
            .context("amount", "3")
            .principal("User", "u1")
            .resource("Doc", "d1")
            .decide_at(common::NOON);
        let expected = engine.decide_at(&request(json!({"zeta": 1, "mfa": true, "amount": "3"})), common::NOON);
        assert_eq!(built, expected);
        assert!(
            refusal(built).contains("context.amount: expected an integer, found a string"),
            "{}",
            refusal(expected)
        );
        // Missing field.
        let built = engine.request("read").principal("User", "u1").resource("Doc", "d1").context("mfa", true);
        let built = built.decide_at(common::NOON);
        assert_eq!(built, engine.decide_at(&request(json!({"mfa": true})), common::NOON));
        assert!(refusal(built).contains("context.amount: missing"));
        // The resource's error before the context's.
        let built = engine.request("read").context("amount", true).resource("User", "u1").principal("User", "u1");
        let built = built.decide_at(common::NOON);
        let mut r = request(json!({"amount": true}));
        r.resource = ward_runtime::EntityUid::new("User", "u1");
        assert_eq!(built, engine.decide_at(&r, common::NOON));
        assert!(refusal(built).contains("resource: `read` does not accept a `User` here"));
        // An unknown action, by name and by handle.
        let built = engine.request("raed").principal("User", "u1").resource("Doc", "d1").decide_at(common::NOON);
        let mut r = request(json!({}));
        r.action = "raed".into();
        assert_eq!(built, engine.decide_at(&r, common::NOON));
        assert_eq!(
            engine.action("raed").unwrap_err().to_string(),
            refusal(built).trim_start_matches("the request was refused: ").to_string()
        );
        // A field given twice is refused, naming it.
        let twice = engine
            .request("read")
            .principal("User", "u1")
            .resource("Doc", "d1")
            .context("amount", 1)
            .context("amount", 2);
        assert!(
            refusal(twice.context("mfa", true).decide_at(common::NOON))
                .contains("context.amount: the field `amount` is set twice")
        );
    }
}

/// Handles resolved against one policy set stay right after a swap to
/// another that lays the action's context out differently: there they are
/// looked up by name again, never used as the old slot or type index.
#[test]
fn handles_are_looked_up_again_after_a_swap() {
    let schema = |extra: &str| {
        format!(
            "schema s {{\n  {extra}\n  entity User\n  entity Doc\n  action read by [User] on [Doc] with {{ amount: Int, {extra_field} mfa: Bool }}\n}}\npolicy p {{\n  permit principal: User, action: read, resource: Doc when context.mfa && context.amount < 10\n}}\n",
            extra_field = if extra.is_empty() { "" } else { "b_count: Int," },
        )
    };
    let entities = json!([{"uid": {"type": "User", "id": "u1"}}, {"uid": {"type": "Doc", "id": "d1"}}]);
    for backend in [Backend::Jit, Backend::Interpreter] {
        let engine = common::engine_with(&schema(""), entities.clone(), backend);
        let read = engine.action("read").unwrap();
        let (amount, mfa) = (read.field("amount").unwrap(), read.field("mfa").unwrap());
        let (user, doc) = (engine.entity_type("User").unwrap(), engine.entity_type("Doc").unwrap());
        let decide = || {
            engine.request(&read).principal(&user, "u1").resource(&doc, "d1").context(&amount, 3).context(&mfa, true)
        };
        assert!(decide().decide_at(common::NOON).is_allowed());
        // Another set: a type before `User` and `Doc`, a field between `amount` and `mfa`.
        let program = common::program(&schema("entity Aaa"));
        let store = Store::load(Arc::clone(&program), &entities).unwrap();
        engine.swap(Loaded::new(program, store, backend == Backend::Jit));
        // `b_count` is required there: the refusal names it, not a slot mix-up.
        let after = decide().decide_at(common::NOON);
        let refusal = after.reasons.first().map(|r| r.clause.clone()).unwrap_or_default();
        assert_eq!(refusal, "the request was refused: context.b_count: missing (the schema requires it)");
        let with_count = decide().context("b_count", 1).decide_at(common::NOON);
        assert!(with_count.is_allowed(), "{with_count:?}");
        // A field handle of one action given to another is looked up by name there.
        let err = engine
            .request("read")
            .principal(&user, "u1")
            .resource(&doc, "d1")
            .context(&amount, true)
            .decide_at(common::NOON);
        assert!(err.reasons[0].clause.contains("context.amount"), "{err:?}");
    }
}
