//! Rate limits and flow conditions: the in-process store against the
//! `governor` crate (keyed), uncontended and with two threads; a sum
//! budget's check; the cost of a flow condition and of a rate limit or a
//! sum limit per decision; a Redis round trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use ward::runtime::state::{LimitCheck, Measure, MemoryStore, StateStore};

const KEYS: usize = 1024;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("outbound.send-rate/Agent::\"agent-{i}\"")).collect()
}

fn check(key: &str) -> LimitCheck {
    // A budget no benchmark exhausts: every check passes and commits.
    LimitCheck::new(key, 1_000_000_000, 1_000, 1_000_000_000, Measure::Requests)
}

fn bench(c: &mut Criterion) {
    let keys = keys();
    let checks: Vec<[LimitCheck; 1]> = keys.iter().map(|k| [check(k)]).collect();
    let mut group = c.benchmark_group("rate_limit_check");

    let store = MemoryStore::default();
    let mut i = 0;
    let mut results = Vec::with_capacity(1);
    group.bench_function("ward_memory_store", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            store.check_limits(&checks[i], 1_000, true, &mut results).unwrap();
            results[0].allowed
        })
    });

    // A sum budget (2^50, never exhausted) checked and spent: its summary
    // holds 64 amounts exactly, older ones in 32 buckets.
    let sums: Vec<[LimitCheck; 1]> =
        keys.iter().map(|k| [LimitCheck::new(k.as_str(), 1 << 50, 1_000, 1, Measure::Sum(10_000))]).collect();
    let store = MemoryStore::default();
    let mut i = 0;
    let mut now = 1_000;
    group.bench_function("ward_memory_store_sum", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            now += 1;
            store.check_limits(&sums[i], now, true, &mut results).unwrap();
            results[0].allowed
        })
    });

    let quota = Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap());
    let governor = RateLimiter::keyed(quota);
    let mut j = 0;
    group.bench_function("governor_keyed", |b| {
        b.iter(|| {
            j = (j + 1) % KEYS;
            governor.check_key(&keys[j]).is_ok()
        })
    });

    // Two threads hammering the same 1,024 keys.
    let store = Arc::new(MemoryStore::default());
    let checks = Arc::new(checks);
    group.bench_function("ward_memory_store_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    let (store, checks) = (Arc::clone(&store), Arc::clone(&checks));
                    std::thread::spawn(move || {
                        let mut results = Vec::with_capacity(1);
                        for n in 0..iters {
                            let _ = store.check_limits(&checks[(n as usize * 7 + t) % KEYS], 1_000, true, &mut results);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            start.elapsed() / 2
        })
    });
    let governor = Arc::new(RateLimiter::keyed(quota));
    let keys = Arc::new(keys);
    group.bench_function("governor_keyed_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    let (governor, keys) = (Arc::clone(&governor), Arc::clone(&keys));
                    std::thread::spawn(move || {
                        for n in 0..iters {
                            let _ = governor.check_key(&keys[(n as usize * 7 + t) % KEYS]);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            start.elapsed() / 2
        })
    });
    group.finish();

    // A decision with and without a flow condition (read from and recorded
    // into the in-process store).
    let mut group = c.benchmark_group("flow_overhead");
    for (name, forbid) in [("without_flow", ""), ("with_flow", FLOW_RULE)] {
        let engine = flow_engine(name, forbid, None);
        let request = email();
        group.bench_function(name, |b| b.iter(|| engine.decide(&request)));
    }
    group.finish();

    // A decision with one rate limit, and with one sum limit (in process).
    let mut group = c.benchmark_group("limit_decision");
    for (name, limit) in [("rate_limit", RATE_LIMIT), ("sum_limit", SUM_LIMIT)] {
        let engine = flow_engine(name, limit, None);
        let request = email();
        group.bench_function(name, |b| b.iter(|| engine.decide(&request)));
    }
    group.finish();

    // Redis: one round trip per decision for all its limits (one script call).
    if let Some(redis) = ward_testkit::redis::RedisServer::start() {
        let store =
            ward::runtime::redis_store::RedisStore::new(&redis.url(), Duration::from_millis(500), "bench:").unwrap();
        let mut group = c.benchmark_group("redis");
        let two = [check("a/x"), check("b/y")];
        let mut results = Vec::new();
        group.bench_function("two_limits_one_round_trip", |b| {
            b.iter(|| store.check_limits(&two, 1_000, true, &mut results).unwrap())
        });
        let rate_and_sum = [check("c/x"), LimitCheck::new("d/y", 1 << 50, 1_000, 1, Measure::Sum(10_000))];
        let mut now = 1_000;
        group.bench_function("rate_and_sum_one_round_trip", |b| {
            b.iter(|| {
                now += 1;
                store.check_limits(&rate_and_sum, now, true, &mut results).unwrap()
            })
        });
        let engine = flow_engine("redis_flow", FLOW_RULE, Some(Arc::new(store)));
        let request = email();
        group.bench_function("decision_with_flow", |b| b.iter(|| engine.decide(&request)));
        group.finish();
    }
}

const RATE_LIMIT: &str = "\n  limit action: send_email to 1000000000 per 1s per principal\n";

const SUM_LIMIT: &str = "\n  limit action: send_email sum(context.cost) to 100000000000.00 per 1h per principal\n";

const FLOW_RULE: &str = "\n  forbid action: send_email\n    when context.external && previously within 1h action: read_customer where resource.vip\n";

fn flow_engine(name: &str, forbid: &str, state: Option<Arc<dyn StateStore>>) -> ward::Engine {
    let dir = std::env::temp_dir().join(format!("ward-bench-state-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = format!(
        "schema s {{\n  entity Agent\n  entity Customer {{ vip: Bool }}\n  entity Mailbox\n  action read_customer by [Agent] on [Customer]\n  action send_email by [Agent] on [Mailbox] with {{ external: Bool, cost: Decimal }}\n}}\n\npolicy p {{\n  permit principal: Agent, action: send_email, resource: Mailbox\n{forbid}}}\n"
    );
    std::fs::write(dir.join("policy.ward"), policy).unwrap();
    let clock = Arc::new(ward::runtime::FixedClock::new(1_764_158_400_000));
    let engine = ward::Engine::from_paths_with(&[&dir], &serde_json::json!([]), ward::Backend::Jit, clock).unwrap();
    match state {
        Some(s) => engine.with_state(s),
        None => engine,
    }
}

fn email() -> ward::Request {
    ward::Request::new(ward::EntityUid::new("Agent", "bot"), "send_email", ward::EntityUid::new("Mailbox", "out"))
        .with_context(serde_json::json!({"external": true, "cost": "0.01"}))
        .in_session("s1")
}

criterion_group!(benches, bench);
criterion_main!(benches);
