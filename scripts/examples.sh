#!/usr/bin/env bash
# Ward's main job on the bundled examples: each example is its own program
# (they declare the same entity names), so each folder is checked on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --locked
ward=target/release/ward
status=0
for dir in examples/*/; do
  echo "== ${dir%/}"
  "$ward" check "$dir" || status=1
done
echo "== formatting"
"$ward" fmt --check examples stdlib || status=1
exit $status
