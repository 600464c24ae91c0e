//! Agreement: the JIT and the reference interpreter (both through the
//! engine's fast path) and the full decision procedure return identical
//! decisions — effect, reasons, masks, obligations, limits, errors, shadow
//! reports — on generated, well-typed programs, entity data and request
//! sequences (see `generator/mod.rs`).
//!
//! The default run decides at least 100,000 requests on each backend:
//! `WARD_AGREEMENT_PROGRAMS` (default 300) programs of
//! `WARD_AGREEMENT_REQUESTS` (default 500) requests, from seeds starting at
//! `WARD_AGREEMENT_SEED`. A failure prints the seed; rerun just that case
//! with `WARD_AGREEMENT_SEED=<seed> WARD_AGREEMENT_PROGRAMS=1`. The fuzz
//! target `fuzz/fuzz_targets/agreement.rs` runs the same check on
//! fuzzer-chosen programs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod generator;

use std::sync::Mutex;
use std::time::Instant;

use generator::{Failure, Tally};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn jit_and_interpreter_agree_on_generated_programs() {
    let programs = env_or("WARD_AGREEMENT_PROGRAMS", 300);
    let requests = env_or("WARD_AGREEMENT_REQUESTS", 500) as usize;
    let base = env_or("WARD_AGREEMENT_SEED", 0x5741_5244_0000);
    let started = Instant::now();
    let total = Mutex::new(Tally::default());
    let skipped = Mutex::new(Vec::<(u64, String)>::new());
    let failures = Mutex::new(Vec::<(u64, String)>::new());
    let next = std::sync::atomic::AtomicU64::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= programs {
                        break;
                    }
                    let seed = base + i;
                    let case = generator::generate(seed, requests);
                    match generator::check(&case) {
                        Ok(t) => total.lock().unwrap().add(&t),
                        Err(Failure::Compile(e)) | Err(Failure::Entities(e)) => {
                            skipped.lock().unwrap().push((seed, format!("{e}\n--- program ---\n{}", case.source)))
                        }
                        Err(Failure::NoJit(e)) | Err(Failure::Disagree(e)) => {
                            failures.lock().unwrap().push((seed, format!("{e}\n--- program ---\n{}", case.source)))
                        }
                    }
                }
            });
        }
    });
    let total = total.into_inner().unwrap();
    let skipped = skipped.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    println!(
        "agreement: {programs} programs, {} request cases decided on both backends in {:.1?} \
         (allow {}, deny {}, approval_required {}, refused {}, with errors {}, with masks {}, with limits {}, with shadow {}); \
         {} programs skipped",
        total.requests,
        started.elapsed(),
        total.allow,
        total.deny,
        total.approval,
        total.refused,
        total.with_errors,
        total.with_masks,
        total.with_limits,
        total.with_shadow,
        skipped.len(),
    );
    for (seed, text) in failures.iter().chain(skipped.iter()).take(12) {
        eprintln!("seed {seed}: {}", text.lines().take(2).collect::<Vec<_>>().join(" / "));
    }
    if let Some((seed, text)) = failures.first() {
        panic!("{} of {programs} programs disagree; first, seed {seed}:\n{text}", failures.len());
    }
    // The generator writes well-typed programs: one that does not compile is a generator bug.
    if let Some((seed, text)) = skipped.first() {
        panic!("{} of {programs} generated programs were refused; first, seed {seed}:\n{text}", skipped.len());
    }
    if programs >= 200 && requests >= 500 {
        assert!(total.requests >= 100_000, "only {} cases", total.requests);
        // The generated decisions cover every effect, errors, masks and limits.
        for (what, n) in [
            ("allow", total.allow),
            ("deny", total.deny),
            ("approval_required", total.approval),
            ("errors", total.with_errors),
            ("masks", total.with_masks),
            ("limits", total.with_limits),
            ("shadow", total.with_shadow),
        ] {
            assert!(n * 200 >= total.requests, "too few decisions with {what}: {n} of {}", total.requests);
        }
    }
}
