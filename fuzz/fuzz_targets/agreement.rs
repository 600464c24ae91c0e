//! Agreement under fuzzing: the input bytes steer the generator of
//! `runtime/tests/generator` (the first draws come from the bytes, the rest
//! from a seed derived from them) to a well-typed program, entity data and a
//! sequence of requests; every request is decided by the interpreter and by
//! the JIT, and the decisions must be identical.
//!
//! Checks: the generated program compiles and its entities load (a failure
//! is a generator bug, reported as a crash so it gets fixed), the JIT
//! compiles it, no decision panics, and both backends decide every request
//! the same way (effect, reasons, masks, obligations, limits, errors, shadow
//! reports) while keeping the decision invariants (a refused request is
//! denied; an allow carries neither a non-rule reason nor `require_approval`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../runtime/tests/generator/mod.rs"]
mod generator;

fuzz_target!(|data: &[u8]| {
    let requests = 8 + usize::from(data.first().copied().unwrap_or(0) % 64);
    let case = generator::generate_with(generator::Rng::from_bytes(data), requests);
    if let Err(failure) = generator::check(&case) {
        panic!("{failure:?}\n--- program ---\n{}", case.source);
    }
});
