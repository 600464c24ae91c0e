#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Shared helpers: compile a policy from text, build an engine, decide.

use std::sync::Arc;

use serde_json::json;
use ward_compiler::{Options, SourceSet};
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward_runtime::{Decision, Request, Store};

pub const NOON: i64 = 1_764_158_400_000; // 2025-11-26T12:00:00Z

pub fn program(src: &str) -> Arc<ward_compiler::ir::Program> {
    let mut set = SourceSet::default();
    set.add("policy.ward", src);
    set.add_stdlib();
    match ward_compiler::compile(&set, &Options::default()) {
        Ok((c, _)) => Arc::new(c.program),
        Err(d) => panic!("does not compile: {d:#?}"),
    }
}

pub fn engine_with(src: &str, entities: serde_json::Value, backend: Backend) -> Engine {
    let program = program(src);
    let store = Store::load(Arc::clone(&program), &entities).expect("entities load");
    Engine::new(Loaded::new(program, store, backend == Backend::Jit), Arc::new(FixedClock::new(NOON)), backend)
}

pub fn decide(engine: &Engine, request: serde_json::Value) -> Decision {
    engine.decide(&Request::from_json(&request).expect("request parses"))
}

pub fn req(
    principal: (&str, &str),
    action: &str,
    resource: (&str, &str),
    context: serde_json::Value,
) -> serde_json::Value {
    json!({
        "principal": {"type": principal.0, "id": principal.1},
        "action": action,
        "resource": {"type": resource.0, "id": resource.1},
        "context": context,
    })
}
