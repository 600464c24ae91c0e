//! Differential testing against Cedar itself (`ward_bench::cedar_diff`):
//! random well-typed Cedar applications imported into Ward and decided by
//! both, which must agree but for the documented difference (an erroring
//! `forbid` applies in Ward), tagged and counted.
//!
//! `WARD_CEDAR_DIFF_APPS` sets how many applications (default 400, each
//! with 250 requests: 100,000 cases); a failure prints its seed, and
//! `WARD_CEDAR_DIFF_SEED` replays that one application.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ward_bench::cedar_diff::{REQUESTS, Tally, run_app};

#[test]
fn imported_random_cedar_applications_decide_as_cedar_does() {
    let mut tally = Tally::default();
    if let Some(seed) = std::env::var("WARD_CEDAR_DIFF_SEED").ok().and_then(|v| v.parse().ok()) {
        run_app(seed, &mut tally).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("cedar differential, seed {seed}: {tally:?}");
        return;
    }
    let apps: u64 = std::env::var("WARD_CEDAR_DIFF_APPS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    for seed in 0..apps {
        run_app(seed, &mut tally).unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("cedar differential: {tally:?}");
    assert!(tally.cases >= apps as usize * REQUESTS, "{tally:?}");
    // Meaningful only if both outcomes, the documented difference and most
    // generated policies occur.
    assert!(tally.allows > tally.cases / 20 && tally.allows < tally.cases * 19 / 20, "{tally:?}");
    assert!(tally.erroring_forbids > 0, "{tally:?}");
    assert!(tally.links > apps as usize / 2, "templates are linked and decided: {tally:?}");
    assert!(tally.kept_policies > tally.dropped_policies * 3, "{tally:?}");
}
