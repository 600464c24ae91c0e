//! Entity updates without recompiling (issue 18, item 6), on the generated
//! schema with 100 rules and ~12,000 entities (2,000 users in 50 teams,
//! 10,000 resources):
//! - `new_entities/compile_native`: what a new entity set cost when native
//!   code was bound to the store — load the entities, then build the policy
//!   set with a JIT compile (`Loaded::new`);
//! - `new_entities/reuse_native`: the same entities paired with the native
//!   code already compiled (`Loaded::with_entities`);
//! - `new_entities/load_only`: the load itself (`Store::load`), the bar;
//! - `update_entities/N`: `Engine::update_entities` with N changed entities
//!   (users moved to another team with a new level, resources re-owned).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value as Json, json};
use ward::compiler::{Options, SourceSet};
use ward::runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward::runtime::{EntityPatch, Store};

#[allow(dead_code)]
#[path = "support/project.rs"]
mod project;

const NOW: i64 = 1_764_158_400_000;
const USERS: usize = 2_000;
const TEAMS: usize = 50;
const RESOURCES: usize = 10_000;

fn user(u: usize, variant: usize) -> Json {
    json!({
        "uid": {"type": "User", "id": format!("u{u}")},
        "attrs": {"level": (u + variant) % 100, "region": (["eu", "us", "apac"][u % 3]),
                  "clearance": (["public", "internal", "confidential", "restricted"][(u + variant) % 4]), "teams": ["a", "b"]},
        "parents": [{"type": "Team", "id": (if (u + variant).is_multiple_of(7) { "ops".to_string() } else { format!("t{}", (u + variant) % TEAMS) })}],
    })
}

fn resource(x: usize, variant: usize) -> Json {
    json!({
        "uid": {"type": format!("Resource{}", x % 10), "id": format!("x{x}")},
        "attrs": {"owner": {"__entity": {"type": "User", "id": format!("u{}", (x + variant) % USERS)}},
                  "region": "eu", "tier": "pro", "level": "internal", "size": x % 500, "name": format!("doc-{x}"), "tags": ["public"]},
        "parents": [{"type": "Team", "id": format!("t{}", x % TEAMS)}],
    })
}

fn entities() -> Json {
    let mut out: Vec<Json> = (0..TEAMS).map(|t| json!({"uid": {"type": "Team", "id": format!("t{t}")}})).collect();
    out.extend((0..USERS).map(|u| user(u, 0)));
    out.extend((0..RESOURCES).map(|x| resource(x, 0)));
    Json::Array(out)
}

/// `n` changed entities: users first (moved, new level), then resources (re-owned).
fn patch(n: usize, variant: usize) -> EntityPatch {
    let mut p = EntityPatch::new();
    for i in 0..n {
        p = if i < USERS { p.upsert(user(i, variant)) } else { p.upsert(resource(i - USERS, variant)) };
    }
    p
}

fn program() -> Arc<ward::compiler::ir::Program> {
    let mut set = SourceSet::default();
    set.add("schema.ward", &project::schema());
    for (path, text) in project::decision_policies(100) {
        set.add(path, &text);
    }
    set.add_stdlib();
    let (compiled, _) = ward::compiler::compile(&set, &Options::default()).unwrap_or_else(|d| panic!("{d:#?}"));
    Arc::new(compiled.program)
}

fn bench(c: &mut Criterion) {
    let program = program();
    let json = entities();
    let store = Store::load(Arc::clone(&program), &json).unwrap();
    let loaded = Loaded::new(Arc::clone(&program), store, true);
    assert!(loaded.jit.is_some(), "{:?}", loaded.jit_error);

    let mut group = c.benchmark_group("new_entities");
    group.sample_size(20);
    group.bench_function("compile_native", |b| {
        b.iter(|| {
            let store = Store::load(Arc::clone(&program), &json).unwrap();
            Loaded::new(Arc::clone(&program), store, true)
        })
    });
    group.bench_function("reuse_native", |b| b.iter(|| loaded.with_entities(&json).unwrap()));
    group.bench_function("load_only", |b| b.iter(|| Store::load(Arc::clone(&program), &json).unwrap()));
    group.finish();

    let engine = Engine::new(loaded, Arc::new(FixedClock::new(NOW)), Backend::Jit);
    let code = engine.loaded().jit.as_ref().map(Arc::as_ptr);
    let mut group = c.benchmark_group("update_entities");
    group.sample_size(20);
    for n in [1, 100, 10_000] {
        // Two patches, applied in turn, so that every update changes the entities.
        let patches = [patch(n, 1), patch(n, 2)];
        let mut turn = 0;
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                turn ^= 1;
                engine.update_entities(&patches[turn]).unwrap()
            })
        });
    }
    group.finish();
    assert_eq!(engine.loaded().jit.as_ref().map(Arc::as_ptr), code, "an update recompiled");
}

criterion_group!(benches, bench);
criterion_main!(benches);
