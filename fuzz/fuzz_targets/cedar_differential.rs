//! The Cedar differential under fuzzing: the input bytes pick the seed of a
//! generated Cedar application (`ward_bench::cedar_gen`), which is imported
//! into Ward and decided by cedar-policy and by Ward's interpreter and JIT
//! (`ward_bench::cedar_diff`). Any disagreement outside the documented
//! difference, or a policy Cedar accepts that the importer or Ward's
//! checker refuses, is a crash; the message carries the seed, which
//! `WARD_CEDAR_DIFF_SEED=N cargo test -p ward-bench --test cedar_differential`
//! replays.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = [0u8; 8];
    for (slot, byte) in bytes.iter_mut().zip(data) {
        *slot = *byte;
    }
    let seed = u64::from_le_bytes(bytes);
    let mut tally = ward_bench::cedar_diff::Tally::default();
    if let Err(failure) = ward_bench::cedar_diff::run_app(seed, &mut tally) {
        panic!("{failure}");
    }
});
