//! Rate limits shared through a real Redis: two engines spend one budget
//! exactly; an unreachable Redis fails closed (or open, where the policy says so).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use ward::runtime::engine::{Backend, FixedClock};
use ward::runtime::redis_store::RedisStore;
use ward::{Effect, Engine, EntityUid, Request};
use ward_testkit::redis::RedisServer;

const POLICY: &str = r#"
schema s {
  entity Agent
  entity Mailbox
  action send_email by [Agent] on [Mailbox]
  action export by [Agent] on [Mailbox]
}

policy mail {
  @id("agents-send")
  permit principal: Agent, action: send_email, resource: Mailbox

  @id("agents-export")
  permit principal: Agent, action: export, resource: Mailbox

  @id("send-budget")
  limit action: send_email to 5 per 1h burst 5 per principal

  @id("export-budget")
  limit action: export to 5 per 1h burst 5 per principal
    fail open
}
"#;

fn engine(dir: &std::path::Path, state: Arc<RedisStore>) -> Engine {
    Engine::from_paths_with(&[dir], &serde_json::json!([]), Backend::Jit, Arc::new(FixedClock::new(1_764_158_400_000)))
        .unwrap()
        .with_state(state)
}

fn policy_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.ward"), POLICY).unwrap();
    dir
}

fn send(action: &str) -> Request {
    Request::new(EntityUid::new("Agent", "bot"), action, EntityUid::new("Mailbox", "out"))
}

#[test]
fn two_engines_share_one_budget_exactly() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = policy_dir("redis-shared");
    let store = |prefix: &str| Arc::new(RedisStore::new(&redis.url(), Duration::from_secs(3), prefix).unwrap());
    let a = engine(&dir, store("ward:"));
    let b = engine(&dir, store("ward:"));
    let mut allowed = 0;
    let mut remaining = Vec::new();
    for i in 0..12 {
        let engine = if i % 2 == 0 { &a } else { &b };
        let d = engine.decide(&send("send_email"));
        if d.effect == Effect::Allow {
            allowed += 1;
            remaining.push(d.limits[0].remaining);
        } else {
            assert!(d.limits[0].retry_after_ms.is_some(), "{}", d.explain());
        }
    }
    assert_eq!(allowed, 5, "the two engines together spend exactly the budget");
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
}

#[test]
fn unreachable_redis_fails_closed_unless_the_limit_fails_open() {
    let dir = policy_dir("redis-down");
    // Nothing listens on port 1.
    let store = Arc::new(RedisStore::new("redis://127.0.0.1:1/", Duration::from_millis(200), "ward:").unwrap());
    let engine = engine(&dir, store);
    let closed = engine.decide(&send("send_email"));
    assert_eq!(closed.effect, Effect::Deny, "{}", closed.explain());
    assert!(closed.reasons.iter().any(|r| r.clause.contains("could not be checked")), "{}", closed.explain());
    let open = engine.decide(&send("export"));
    assert_eq!(open.effect, Effect::Allow, "{}", open.explain());
    assert!(!open.errors.is_empty(), "the failure is still reported");
}

#[test]
fn a_redis_that_dies_mid_stream_denies_without_panicking() {
    let Some(mut redis) = RedisServer::start() else { return };
    let dir = policy_dir("redis-dies");
    let store = Arc::new(RedisStore::new(&redis.url(), Duration::from_millis(300), "ward:").unwrap());
    let engine = engine(&dir, store);
    assert_eq!(engine.decide(&send("send_email")).effect, Effect::Allow);
    redis.kill();
    for _ in 0..3 {
        let d = engine.decide(&send("send_email"));
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
    }
}

const FLOW_POLICY: &str = r#"
schema s {
  entity Agent
  entity Customer { vip: Bool }
  entity Mailbox
  action read_customer by [Agent] on [Customer]
  action send_email by [Agent] on [Mailbox] with { external: Bool }
}

policy p {
  @id("read")
  permit principal: Agent, action: read_customer, resource: Customer

  @id("send")
  permit principal: Agent, action: send_email, resource: Mailbox

  @id("no-exfiltration")
  forbid action: send_email
    when context.external && previously within 1h action: read_customer where resource.vip
}
"#;

#[test]
fn flow_state_is_shared_by_engines_through_redis() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("redis-flow");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.ward"), FLOW_POLICY).unwrap();
    let entities = serde_json::json!([
        {"uid": {"type": "Customer", "id": "vip-1"}, "attrs": {"vip": true}, "parents": []},
        {"uid": {"type": "Mailbox", "id": "out"}, "attrs": {}, "parents": []}
    ]);
    let clock = Arc::new(FixedClock::new(1_764_158_400_000));
    let make = || {
        // A generous timeout: CI machines are busy, and a timeout fails closed.
        let store = Arc::new(RedisStore::new(&redis.url(), Duration::from_secs(3), "ward:").unwrap());
        Engine::from_paths_with(&[&dir], &entities, Backend::Jit, clock.clone()).unwrap().with_state(store)
    };
    let (a, b) = (make(), make());
    let read = Request::new(EntityUid::new("Agent", "bot"), "read_customer", EntityUid::new("Customer", "vip-1"))
        .in_session("s1");
    let email = Request::new(EntityUid::new("Agent", "bot"), "send_email", EntityUid::new("Mailbox", "out"))
        .with_context(serde_json::json!({"external": true}))
        .in_session("s1");
    let first = b.decide(&email);
    assert_eq!(first.effect, Effect::Allow, "nothing read yet: {}", first.explain());
    let read_decision = a.decide(&read);
    assert_eq!(read_decision.effect, Effect::Allow, "{}", read_decision.explain());
    clock.advance(10 * 60_000);
    let denied = b.decide(&email);
    assert_eq!(denied.effect, Effect::Deny, "{}", denied.explain());
    assert_eq!(denied.reasons[0].rule.as_deref(), Some("p.no-exfiltration"));
    clock.advance(60 * 60_000);
    assert_eq!(b.decide(&email).effect, Effect::Allow, "after the window");
}
