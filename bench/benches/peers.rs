//! Ward against cedar-policy and regorus on the Cedar paper's workloads
//! (gdrive, github, tinytodo; N = 5 to 50 entities per type), the same
//! generated requests for every engine, cycled in a fixed order: criterion
//! reports the time per request. Then latency against 10 to 10,000
//! generated rules (Ward and Cedar). The variants are the closures of
//! `ward_bench::Contenders::variants` (with `cedar-json`, Cedar from the
//! request's JSON text), then the cold-cache variants of
//! `ward_bench::cold::ColdContenders::variants` on each application at
//! N = 10 (visits of a shuffled cold set; see `bench/src/cold.rs`).
//!
//! Per-request medians and p99, the ratios and the plots come from
//! `cargo run -p ward-bench --release -- report` (docs/performance.md).
//! Under `cargo test` (criterion's test mode) only N = 5 and 10 and up to
//! 1,000 rules run, each benchmark once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ward_bench::cold::ColdContenders;
use ward_bench::generate::SIZES;
use ward_bench::scale::{RULE_COUNTS, ScaleSet};
use ward_bench::{App, CedarPeer, Contenders, WardSide, Workload};
use ward_runtime::engine::Backend;

const REQUESTS: usize = 500;
const SEED: u64 = 1;

/// `cargo bench` passes `--bench`; without it (`cargo test`), or with
/// `--test`, criterion runs each benchmark once, and the setup is kept small.
fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

fn peers(c: &mut Criterion) {
    if !ward_bench::apps::peers_available() {
        let root = ward_bench::apps::peer_root();
        let problem = format!("the peer workloads are not at `{}` (set WARD_PEER_WORKLOADS)", root.display());
        ward_testkit::missing_optional("peers", &problem, "WARD_REQUIRE_PEERS");
        return;
    }
    let sizes: &[usize] = if full_run() { &SIZES } else { &SIZES[..2] };
    for app in App::ALL {
        let mut group = c.benchmark_group(format!("peers_{}", app.name()));
        for &n in sizes {
            let w = Workload::generate(app, n, SEED, REQUESTS);
            let mut contenders = Contenders::new(&w).unwrap_or_else(|e| panic!("{e}"));
            for (name, mut decide) in contenders.variants() {
                let mut i = 0;
                group.bench_function(BenchmarkId::new(name, n), |b| {
                    b.iter(|| {
                        i = (i + 1) % REQUESTS;
                        decide(i)
                    })
                });
            }
        }
        group.finish();
    }
}

fn cold(c: &mut Criterion) {
    if !ward_bench::apps::peers_available() {
        return;
    }
    // Under `cargo test` a small set: the run checks the wiring, not the caches.
    let target = if full_run() { ward_bench::cold::target_bytes() } else { 1 << 20 };
    let mut group = c.benchmark_group("peers_cold");
    for app in App::ALL {
        let w = Workload::generate(app, 10, SEED, REQUESTS);
        let cold = ColdContenders::new(&w, target).unwrap_or_else(|e| panic!("{e}"));
        for mut v in cold.variants() {
            let mut i = 0;
            group.bench_function(BenchmarkId::new(v.name, app.name()), |b| {
                b.iter(|| {
                    i = (i + 1) % v.len;
                    (v.decide)(i)
                })
            });
        }
    }
    group.finish();
}

fn scaling(c: &mut Criterion) {
    // 100,000 rules stay with the report (`ward-bench scale`): criterion's
    // samples of Cedar's ~0.1 s decisions there would take an hour.
    let counts: &[usize] = if full_run() { &RULE_COUNTS[..4] } else { &RULE_COUNTS[..3] };
    let mut group = c.benchmark_group("peers_scaling");
    for &rules in counts {
        let set = ScaleSet::generate(rules, SEED, 256);
        let entities = set.entities_json();
        let cedar = CedarPeer::new(ScaleSet::cedar_schema().unwrap(), &set.cedar_policy, &entities, &set.requests)
            .unwrap_or_else(|e| panic!("{e}"));
        let jit = WardSide::from_sources(&set.ward_files(), &entities, Backend::Jit, &set.requests)
            .unwrap_or_else(|e| panic!("{e}"));
        let len = set.requests.len();
        let mut i = 0;
        group.bench_function(BenchmarkId::new("cedar", rules), |b| {
            b.iter(|| {
                i = (i + 1) % len;
                cedar.decide(i)
            })
        });
        group.bench_function(BenchmarkId::new("ward-jit-prepared", rules), |b| {
            b.iter(|| {
                i = (i + 1) % len;
                jit.allows_prepared(i)
            })
        });
        group.bench_function(BenchmarkId::new("ward-jit-typed", rules), |b| {
            b.iter(|| {
                i = (i + 1) % len;
                jit.allows_typed(i)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, peers, cold, scaling);
criterion_main!(benches);
