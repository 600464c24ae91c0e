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

/// A fresh folder `name` holding `policy` as `policy.ward`.
fn policy_dir(name: &str, policy: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.ward"), policy).unwrap();
    dir
}

fn send(action: &str) -> Request {
    Request::new(EntityUid::new("Agent", "bot"), action, EntityUid::new("Mailbox", "out"))
}

#[test]
fn two_engines_share_one_budget_exactly() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = policy_dir("redis-shared", POLICY);
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
    let dir = policy_dir("redis-down", POLICY);
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
    let dir = policy_dir("redis-dies", POLICY);
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
    let dir = policy_dir("redis-flow", FLOW_POLICY);
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

const BUDGET_POLICY: &str = r#"
schema s {
  entity Agent
  entity Supplier
  entity Customer
  action order by [Agent] on [Supplier] with { amount: Decimal, units: Int }
  action read by [Agent] on [Customer]
}

policy p {
  @id("order")
  permit principal: Agent, action: order, resource: Supplier

  @id("read")
  permit principal: Agent, action: read, resource: Customer

  @id("spend")
  limit action: order sum(context.amount) to 10000.00 per 24h per principal

  @id("order-rate")
  limit action: order to 1000 per 1h per principal

  @id("units")
  limit action: order sum(context.units) to 1125899906842624 per 24h per principal

  @id("customers")
  limit action: read distinct(resource) to 2 per 1h per principal
}
"#;

fn order(agent: &str, amount: &str, units: i64) -> Request {
    let amount: serde_json::Value = serde_json::from_str(amount).unwrap();
    Request::new(EntityUid::new("Agent", agent), "order", EntityUid::new("Supplier", "s"))
        .with_context(serde_json::json!({ "amount": amount, "units": units }))
}

fn budget_engine(dir: &std::path::Path, url: &str, clock: Arc<FixedClock>) -> Engine {
    let store = Arc::new(RedisStore::new(url, Duration::from_secs(3), "ward:").unwrap());
    Engine::from_paths_with(&[dir], &serde_json::json!([]), Backend::Jit, clock).unwrap().with_state(store)
}

#[test]
fn concurrent_orders_cannot_both_spend_the_last_of_a_budget_in_redis() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = policy_dir("redis-budget-race", BUDGET_POLICY);
    let clock = Arc::new(FixedClock::new(1_764_158_400_000));
    let engines: Vec<Arc<Engine>> =
        (0..4).map(|_| Arc::new(budget_engine(&dir, &redis.url(), clock.clone()))).collect();
    for round in 0..20 {
        let agent = format!("bot{round}");
        let threads: Vec<_> = engines
            .iter()
            .map(|engine| {
                let (engine, agent) = (Arc::clone(engine), agent.clone());
                std::thread::spawn(move || engine.decide(&order(&agent, "9999.00", 1)).effect == Effect::Allow)
            })
            .collect();
        let passed = threads.into_iter().map(|t| t.join().unwrap()).filter(|ok| *ok).count();
        assert_eq!(passed, 1, "round {round}: exactly one of four concurrent 9,999.00 orders spends the budget");
    }
    // The refused orders consumed nothing from the rate limit either.
    let d = engines[0].decide(&order("bot0", "1.00", 1));
    assert_eq!(d.effect, Effect::Allow, "{}", d.explain());
    let rate = d.limits.iter().find(|l| l.rule == "p.order-rate").unwrap();
    assert_eq!(rate.remaining, 998);
    let spend = d.limits.iter().find(|l| l.rule == "p.spend").unwrap();
    let budget = spend.budget.as_ref().unwrap();
    assert_eq!((budget.used.as_str(), budget.remaining.as_str()), ("9999.0", "0.0"));
    let refused = engines[1].decide(&order("bot0", "0.01", 1));
    assert_eq!(refused.effect, Effect::Deny, "{}", refused.explain());
    let spend = refused.limits.iter().find(|l| l.rule == "p.spend").unwrap();
    assert_eq!(spend.retry_after_ms, Some(86_400_001), "the first order leaves the window after 24h");
}

#[test]
fn budgets_near_two_to_the_fifty_stay_exact_in_redis() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = policy_dir("redis-budget-edge", BUDGET_POLICY);
    let clock = Arc::new(FixedClock::new(1_764_158_400_000));
    let engine = budget_engine(&dir, &redis.url(), clock.clone());
    let max: i64 = 1 << 50;
    let first = engine.decide(&order("edge", "1.00", max - 1));
    assert_eq!(first.effect, Effect::Allow, "{}", first.explain());
    let units = |d: &ward::Decision| d.limits.iter().find(|l| l.rule == "p.units").unwrap().clone();
    assert_eq!(units(&first).remaining, 1);
    let last = engine.decide(&order("edge", "1.00", 1));
    assert_eq!(last.effect, Effect::Allow, "{}", last.explain());
    let budget = units(&last).budget.unwrap();
    assert_eq!((budget.used, budget.remaining), ((max - 1).to_string(), "0".to_string()));
    let over = engine.decide(&order("edge", "1.00", 1));
    assert_eq!(over.effect, Effect::Deny, "{}", over.explain());
    // An amount larger than the whole budget: refused, no wait helps.
    let huge = engine.decide(&order("edge2", "1.00", i64::MAX));
    assert_eq!(huge.effect, Effect::Deny);
    assert_eq!(units(&huge).retry_after_ms, None);
    assert!(huge.reasons.iter().any(|r| r.clause.contains("alone exceeds")), "{}", huge.explain());
}

#[test]
fn distinct_values_are_shared_through_redis() {
    let Some(redis) = RedisServer::start() else { return };
    let dir = policy_dir("redis-distinct", BUDGET_POLICY);
    let clock = Arc::new(FixedClock::new(1_764_158_400_000));
    let (a, b) = (budget_engine(&dir, &redis.url(), clock.clone()), budget_engine(&dir, &redis.url(), clock.clone()));
    let read = |id: &str| Request::new(EntityUid::new("Agent", "bot"), "read", EntityUid::new("Customer", id));
    assert_eq!(a.decide(&read("c1")).effect, Effect::Allow);
    clock.advance(1_000);
    assert_eq!(b.decide(&read("c2")).effect, Effect::Allow);
    assert_eq!(a.decide(&read("c1")).effect, Effect::Allow, "a value seen in the window passes");
    let third = b.decide(&read("c3"));
    assert_eq!(third.effect, Effect::Deny, "{}", third.explain());
    assert_eq!(
        third.limits[0].retry_after_ms,
        Some(3_600_001),
        "when c1 and c2 (both last seen at +1s) leave the window"
    );
    clock.advance(3_600_000);
    assert_eq!(a.decide(&read("c3")).effect, Effect::Deny, "exactly a window later, both are still in it");
    clock.advance(1);
    assert_eq!(a.decide(&read("c3")).effect, Effect::Allow, "c1 and c2 have left the window");
}

/// The Lua script and the in-process store agree, result for result, on a
/// long sequence of sums (past 64 amounts, so older ones fold into
/// buckets; refusals with their retry-after) and distinct values.
#[test]
fn redis_and_the_memory_store_agree_on_budgets() {
    use ward::runtime::state::{LimitCheck, Measure, MemoryStore, StateStore};
    let Some(redis) = RedisServer::start() else { return };
    let redis = RedisStore::new(&redis.url(), Duration::from_secs(3), "agree:").unwrap();
    let memory = MemoryStore::default();
    let window = 60_000;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut now = 1_764_158_400_000_i64;
    let (mut allowed, mut refused) = (0, 0);
    for i in 0..600 {
        now += next(400) as i64;
        let checks = [
            LimitCheck::new("sum/k", 40_000, window, 1, Measure::Sum(next(300) as i64)),
            LimitCheck::new("distinct/k", 20, window, 1, Measure::Distinct(format!("v{}", next(25)))),
        ];
        for check in &checks {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            memory.check_limits(std::slice::from_ref(check), now, true, &mut a).unwrap();
            redis.check_limits(std::slice::from_ref(check), now, true, &mut b).unwrap();
            assert_eq!(a, b, "step {i} at {now}: {check:?}");
            if a[0].allowed { allowed += 1 } else { refused += 1 }
        }
    }
    assert!(allowed > 100 && refused > 100, "the sequence exercises both: {allowed} allowed, {refused} refused");
}
