#!/usr/bin/env bash
# The fuzz targets' checks as a stable, bounded harness (stable Rust, no
# cargo-fuzz): the same generators the targets in fuzz/fuzz_targets/ drive,
# run in release for a fixed amount of work on every CI run:
#
#   - parser: >= 1,000,000 mutants of generated programs, each checked as
#     fuzz_targets/parse.rs checks its input (grammar/tests/properties.rs,
#     `mutants_at_scale`);
#   - agreement: >= 1,000,000 requests decided by the JIT and by the
#     interpreter on generated programs, which must agree
#     (runtime/tests/agreement.rs, as fuzz_targets/agreement.rs).
#
# Only the two crates they need are built. The counts can be raised for a
# longer hunt (WARD_MUTANTS, WARD_AGREEMENT_PROGRAMS × WARD_AGREEMENT_REQUESTS)
# and the seeds moved (WARD_MUTANTS_SEED, WARD_AGREEMENT_SEED). Totals and
# times: docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
export WARD_MUTANTS="${WARD_MUTANTS:-1000000}"
export WARD_AGREEMENT_PROGRAMS="${WARD_AGREEMENT_PROGRAMS:-2000}"
export WARD_AGREEMENT_REQUESTS="${WARD_AGREEMENT_REQUESTS:-500}"
# Release without debug info: a failure prints its seed, which is what reproduces it.
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"

start=$(date +%s)
cargo test --release --locked -p ward-grammar --test properties --no-run
cargo test --release --locked -p ward-runtime --test agreement --no-run
built=$(date +%s)
cargo test --release --locked -p ward-grammar --test properties -- --exact mutants_at_scale --nocapture
cargo test --release --locked -p ward-runtime --test agreement -- --nocapture
end=$(date +%s)
echo "fuzz: built in $((built - start)) s, ran in $((end - built)) s" \
  "($WARD_MUTANTS parser mutants, $((WARD_AGREEMENT_PROGRAMS * WARD_AGREEMENT_REQUESTS)) agreement cases)"
