//! `Engine::decide`: JIT vs interpreter, on a prepared frame and from a
//! typed request, over generated policy sets of 10 to 10,000 rules. The
//! `prepared_frame` and `typed_request` cases produce the verdict (effect
//! and deciding rules as indexes); `prepared_frame_explained` also
//! materialises the full decision (rule ids, clause text, obligations);
//! `typed_builder` lays the same requests out through `Engine::request`
//! (actions resolved once, no `Request`), `typed_builder_resolved` with
//! entity types and context fields resolved once too; `json_text` reads the request
//! from its JSON text first (JIT only), `json_direct` the same text
//! straight into the frame (`Engine::check_json_at`);
//! `json_breakdown` splits that cost (parse, request, decision) and times
//! the general reading path (document, then request) beside the direct one.
//! `structured_strings` compares a glob with a parsed address list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use ward::compiler::{Options, SourceSet};
use ward::runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward::runtime::{ActionId, EntityUid, FieldId, Request, Store, TypeId};

#[allow(dead_code)]
#[path = "support/project.rs"]
mod project;

const NOW: i64 = 1_764_158_400_000;

fn entities() -> serde_json::Value {
    let mut out = vec![json!({"uid": {"type": "Team", "id": "ops"}, "attrs": {}, "parents": []})];
    for u in 0..10 {
        let region = ["eu", "us", "apac"][u % 3];
        let clearance = ["public", "internal", "confidential", "restricted"][u % 4];
        out.push(json!({
            "uid": {"type": "User", "id": format!("u{u}")},
            "attrs": {"level": u, "region": region, "clearance": clearance, "teams": ["a", "b"]},
            "parents": if u % 2 == 0 { vec![json!({"type": "Team", "id": "ops"})] } else { vec![] },
        }));
    }
    for a in 0..5 {
        out.push(json!({
            "uid": {"type": "Agent", "id": format!("a{a}")},
            "attrs": {"owner": {"__entity": {"type": "User", "id": format!("u{a}")}}, "clearance": "internal", "scopes": ["crm.read"]},
            "parents": [{"type": "Team", "id": "ops"}],
        }));
    }
    for r in 0..10 {
        for x in 0..10 {
            out.push(json!({
                "uid": {"type": format!("Resource{r}"), "id": format!("x{x}")},
                "attrs": {"owner": {"__entity": {"type": "User", "id": format!("u{x}")}}, "region": "eu", "tier": "pro", "level": "internal", "size": 50 * x, "name": format!("doc-{x}"), "tags": ["public"]},
                "parents": [],
            }));
        }
    }
    serde_json::Value::Array(out)
}

fn request(i: usize) -> Request {
    let action = i % 50;
    let principal = if i.is_multiple_of(3) {
        EntityUid::new("Agent", format!("a{}", i % 5))
    } else {
        EntityUid::new("User", format!("u{}", i % 10))
    };
    Request::new(
        principal,
        format!("act{action}"),
        EntityUid::new(format!("Resource{}", action % 10), format!("x{}", i % 10)),
    )
    .with_context(json!({"mfa": i.is_multiple_of(2), "amount": (i * 37) % 500, "ip": "10.0.0.1"}))
}

/// A benchmark request as a builder caller holds it: the action resolved
/// once, the rest as plain Rust values.
struct Built {
    action: ActionId,
    principal: EntityUid,
    resource: EntityUid,
    mfa: bool,
    amount: i64,
    ip: String,
}

impl Built {
    fn check(&self, engine: &Engine) -> ward::runtime::Checked {
        engine
            .request(&self.action)
            .principal(&self.principal.ty, &self.principal.id)
            .resource(&self.resource.ty, &self.resource.id)
            .context("amount", self.amount)
            .context("ip", &self.ip)
            .context("mfa", self.mfa)
            .check_at(NOW)
    }
}

/// A benchmark request as a caller holds it that resolved everything it
/// could once: the action, the entity types, the context fields, and the
/// address as an `IpAddr`; per request only the ids and values.
struct Resolved {
    action: ActionId,
    principal: (TypeId, String),
    resource: (TypeId, String),
    fields: [FieldId; 3],
    mfa: bool,
    amount: i64,
    ip: std::net::IpAddr,
}

impl Resolved {
    fn check(&self, engine: &Engine) -> ward::runtime::Checked {
        let [amount, ip, mfa] = &self.fields;
        engine
            .request(&self.action)
            .principal(&self.principal.0, &self.principal.1)
            .resource(&self.resource.0, &self.resource.1)
            .context(amount, self.amount)
            .context(ip, self.ip)
            .context(mfa, self.mfa)
            .check_at(NOW)
    }
}

fn resolved_requests(engine: &Engine, requests: &[Request]) -> Vec<Resolved> {
    requests
        .iter()
        .map(|r| {
            let action = engine.action(&r.action).unwrap();
            let fields = ["amount", "ip", "mfa"].map(|f| action.field(f).unwrap());
            Resolved {
                principal: (engine.entity_type(&r.principal.ty).unwrap(), r.principal.id.clone()),
                resource: (engine.entity_type(&r.resource.ty).unwrap(), r.resource.id.clone()),
                fields,
                mfa: r.context["mfa"].as_bool().unwrap(),
                amount: r.context["amount"].as_i64().unwrap(),
                ip: r.context["ip"].as_str().unwrap().parse().unwrap(),
                action,
            }
        })
        .collect()
}

fn builder_requests(engine: &Engine, requests: &[Request]) -> Vec<Built> {
    requests
        .iter()
        .map(|r| Built {
            action: engine.action(&r.action).unwrap(),
            principal: r.principal.clone(),
            resource: r.resource.clone(),
            mfa: r.context["mfa"].as_bool().unwrap(),
            amount: r.context["amount"].as_i64().unwrap(),
            ip: r.context["ip"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn engine(rules: usize, backend: Backend) -> Engine {
    let (program, store) = compile(project::decision_policies(rules));
    engine_of(program, store, backend)
}

fn engine_of(program: Arc<ward::compiler::ir::Program>, store: Store, backend: Backend) -> Engine {
    Engine::new(Loaded::new(program, store, backend == Backend::Jit), Arc::new(FixedClock::new(NOW)), backend)
}

/// Benchmarks `f` on `items`, one after another round the list.
fn cycling<T, O>(group: &mut BenchmarkGroup<'_, WallTime>, id: BenchmarkId, items: &[T], mut f: impl FnMut(&T) -> O) {
    let mut i = 0;
    group.bench_function(id, |b| {
        b.iter(|| {
            i = (i + 1) % items.len();
            f(&items[i])
        })
    });
}

/// Source text to a checked, lowered program and its entity store.
fn compile(policies: Vec<(String, String)>) -> (Arc<ward::compiler::ir::Program>, Store) {
    let mut set = SourceSet::default();
    set.add("schema.ward", &project::schema());
    for (path, text) in policies {
        set.add(path, &text);
    }
    set.add_stdlib();
    let (compiled, _) = ward::compiler::compile(&set, &Options::default()).unwrap_or_else(|d| panic!("{d:#?}"));
    let program = Arc::new(compiled.program);
    let store = Store::load(Arc::clone(&program), &entities()).unwrap();
    (program, store)
}

/// Cold compile: source text to native code (parse, check, lower, load the
/// entities, JIT-compile every rule).
fn cold_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("cold_compile_to_native");
    group.sample_size(10);
    for rules in [10, 100, 1_000] {
        group.bench_function(BenchmarkId::from_parameter(rules), |b| {
            b.iter(|| {
                let (program, store) = compile(project::decision_policies(rules));
                let loaded = Loaded::new(program, store, true);
                assert!(loaded.jit.is_some());
                loaded
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let requests: Vec<Request> = (0..64).map(request).collect();
    for rules in [10, 100, 1_000, 10_000] {
        let mut group = c.benchmark_group(format!("decide_{rules}_rules"));
        for (name, backend) in [("jit", Backend::Jit), ("interp", Backend::Interpreter)] {
            let engine = engine(rules, backend);
            let prepared: Vec<_> = requests.iter().map(|r| engine.prepare(r, NOW).unwrap()).collect();
            // The verdict: effect and deciding rules, as indexes.
            cycling(&mut group, BenchmarkId::new("prepared_frame", name), &prepared, |p| engine.verdict_prepared(p));
            cycling(&mut group, BenchmarkId::new("typed_request", name), &requests, |r| engine.check_at(r, NOW));
            // The same requests through the typed builder: actions resolved once, the frame written directly.
            let built = builder_requests(&engine, &requests);
            cycling(&mut group, BenchmarkId::new("typed_builder", name), &built, |b| b.check(&engine));
            // The same with types and context fields resolved once, the address as an `IpAddr`.
            let resolved = resolved_requests(&engine, &requests);
            cycling(&mut group, BenchmarkId::new("typed_builder_resolved", name), &resolved, |b| b.check(&engine));
            // From the request's JSON text (Cedar's shape): read strictly, then decided.
            if backend == Backend::Jit {
                let texts: Vec<String> = requests.iter().map(|r| r.to_json().to_string()).collect();
                cycling(&mut group, BenchmarkId::new("json_text", name), &texts, |t| {
                    engine.check_at(&Request::from_json_str(t).unwrap(), NOW)
                });
                // The same text read straight into the frame (`Engine::check_json_at`).
                cycling(&mut group, BenchmarkId::new("json_direct", name), &texts, |t| {
                    engine.check_json_at(t, NOW).unwrap()
                });
            }
            // The same with the explanation materialised (rule ids, clause text, obligations, masks).
            let id = BenchmarkId::new("prepared_frame_explained", name);
            cycling(&mut group, id, &prepared, |p| engine.decide_prepared(p));
        }
        group.finish();
    }
}

/// The evaluators themselves: one bucket of 40 rules (conditions on
/// attributes, context, hierarchy, sets and patterns), every request
/// evaluating all of them.
fn evaluator(c: &mut Criterion) {
    let mut text = String::from("policy heavy {\n");
    // Rules for users (agents' rules read other attributes), moved to one action and resource type.
    for k in (0..60).filter(|k| k % 3 != 0) {
        let scope = format!("action: act{}, resource: Resource{}", k % 50, k % 50 % 10);
        text.push_str(&project::rule(k, k).replace(&scope, "action: act0, resource: Resource0"));
    }
    text.push_str("}\n");
    let requests: Vec<Request> = (0..64)
        .map(|i| {
            Request::new(
                EntityUid::new("User", format!("u{}", i % 10)),
                "act0",
                EntityUid::new("Resource0", format!("x{}", i % 10)),
            )
            .with_context(json!({"mfa": i % 2 == 0, "amount": (i * 37) % 500, "ip": "10.0.0.1"}))
        })
        .collect();
    let mut group = c.benchmark_group("evaluator_40_rules_one_bucket");
    for (name, backend) in [("jit", Backend::Jit), ("interp", Backend::Interpreter)] {
        let (program, store) = compile(vec![("policies/heavy.ward".into(), text.clone())]);
        let engine = engine_of(program, store, backend);
        let prepared: Vec<_> = requests.iter().map(|r| engine.prepare(r, NOW).unwrap()).collect();
        cycling(&mut group, BenchmarkId::new("prepared_frame", name), &prepared, |p| engine.verdict_prepared(p));
    }
    group.finish();
}

/// What parsing a recipient list costs over a glob on its end (issue 16:
/// `like "*@acme.example"` passes "x@evil.example, y@acme.example"):
/// one permit and one forbid, the forbid's condition a glob or the parsed
/// domains, on a two-address list.
fn structured_strings(c: &mut Criterion) {
    let conditions = [
        ("glob", r#"context.reason like "*@acme.example""#),
        ("email_domains", r#"context.reason.email_domains().is_subset(["acme.example"])"#),
    ];
    let requests: Vec<Request> = (0..16)
        .map(|i| {
            Request::new(
                EntityUid::new("User", format!("u{}", i % 10)),
                "act0",
                EntityUid::new("Resource0", format!("x{}", i % 10)),
            )
            .with_context(json!({"mfa": true, "amount": 1, "ip": "10.0.0.1",
                "reason": format!("Ann <ann{i}@acme.example>, bob@acme.example")}))
        })
        .collect();
    let mut group = c.benchmark_group("structured_strings");
    for (name, condition) in conditions {
        let text = format!(
            "policy mail {{\n  permit action: act0\n  forbid action: act0\n    unless context has reason && {condition}\n}}\n"
        );
        for (backend_name, backend) in [("jit", Backend::Jit), ("interp", Backend::Interpreter)] {
            let (program, store) = compile(vec![("policies/mail.ward".into(), text.clone())]);
            let engine = engine_of(program, store, backend);
            let prepared: Vec<_> = requests.iter().map(|r| engine.prepare(r, NOW).unwrap()).collect();
            let id = BenchmarkId::new(name, backend_name);
            cycling(&mut group, id, &prepared, |p| engine.verdict_prepared(p));
        }
    }
    group.finish();
}

/// Where the time of a decision from JSON text goes (10 rules, JIT): the
/// strict parse alone, the parse and the `Request` built from it, and the
/// whole decision beside the typed request's.
fn json_breakdown(c: &mut Criterion) {
    let requests: Vec<Request> = (0..64).map(request).collect();
    let texts: Vec<String> = requests.iter().map(|r| r.to_json().to_string()).collect();
    let engine = engine(10, Backend::Jit);
    let mut group = c.benchmark_group("json_breakdown");
    cycling(&mut group, BenchmarkId::from_parameter("parse"), &texts, |t| {
        ward::runtime::json::parse_request(t).unwrap()
    });
    // Before: the document, then the request read from it (the general path).
    let general = |t: &String| Request::from_json(&ward::runtime::json::parse_request(t).unwrap()).unwrap();
    cycling(&mut group, BenchmarkId::from_parameter("request_general"), &texts, general);
    // After: the request read straight from the text (the general path only for other shapes).
    cycling(&mut group, BenchmarkId::from_parameter("request"), &texts, |t| Request::from_json_str(t).unwrap());
    // The peers' shape (gdrive, tinytodo): the action as Cedar's entity, an empty context.
    let cedar_shaped: Vec<String> = requests
        .iter()
        .map(|r| {
            let mut j = r.to_json();
            j["action"] = json!({"type": "Action", "id": r.action});
            j["context"] = json!({});
            j.to_string()
        })
        .collect();
    cycling(&mut group, BenchmarkId::from_parameter("request_cedar_shape_general"), &cedar_shaped, general);
    cycling(&mut group, BenchmarkId::from_parameter("request_cedar_shape"), &cedar_shaped, |t| {
        Request::from_json_str(t).unwrap()
    });
    cycling(&mut group, BenchmarkId::from_parameter("typed_decision"), &requests, |r| engine.check_at(r, NOW));
    let built = builder_requests(&engine, &requests);
    cycling(&mut group, BenchmarkId::from_parameter("builder_decision"), &built, |b| b.check(&engine));
    cycling(&mut group, BenchmarkId::from_parameter("json_decision_general"), &texts, |t| {
        engine.check_at(&general(t), NOW)
    });
    cycling(&mut group, BenchmarkId::from_parameter("json_decision"), &texts, |t| {
        engine.check_at(&Request::from_json_str(t).unwrap(), NOW)
    });
    // Straight into the frame: no `Request`, no document (`Engine::check_json_at`).
    cycling(&mut group, BenchmarkId::from_parameter("json_decision_direct"), &texts, |t| {
        engine.check_json_at(t, NOW).unwrap()
    });
    group.finish();
}

criterion_group!(benches, bench, cold_compile, evaluator, structured_strings, json_breakdown);
criterion_main!(benches);
