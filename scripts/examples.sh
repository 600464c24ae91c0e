#!/usr/bin/env bash
# Ward's main job on the bundled examples. Each example is its own program
# (they declare the same entity names), so each folder is handled on its own:
# check it, run its policy tests, then decide its sample requests against its
# fixture and explain each decision.
set -euo pipefail
cd "$(dirname "$0")/.."
# `$WARD_BIN` when given (CI passes the binary `scripts/test` built, so the
# dependency graph is compiled once); otherwise a dev build.
ward="${WARD_BIN:-}"
if [ -z "$ward" ]; then
  cargo build -q --locked --bin ward
  ward="${CARGO_TARGET_DIR:-target}/debug/ward"
fi
at=2026-11-26T10:00:00Z
status=0
for dir in examples/*/; do
  dir=${dir%/}
  echo "════ $dir"
  "$ward" check --at "${at%%T*}" "$dir" || status=1
  "$ward" test "$dir" || status=1
  "$ward" lifecycle --at "${at%%T*}" "$dir" || status=1
  if [ -f "$dir/requests.jsonl" ]; then
    fixture=$(awk '/^fixture /{print $2; exit}' "$dir"/*.ward)
    echo "── decisions for $dir/requests.jsonl (entities: fixture $fixture, at $at)"
    "$ward" explain --policy "$dir" --fixture "$fixture" --requests "$dir/requests.jsonl" --at "$at" || status=1
  fi
  if [ -f "$dir/payload.json" ]; then
    echo "── what the agent receives for the first request: $dir/payload.json, masked"
    # A throwaway tokenization key for the demo; real keys come from a keys file or WARD_KEY_*.
    WARD_KEY_CX_EMAIL=$(head -c 32 /dev/urandom | base64) \
      "$ward" mask --policy "$dir" --fixture "$fixture" --request <(head -n 1 "$dir/requests.jsonl") \
        --payload "$dir/payload.json" --at "$at" || status=1
  fi
done
echo "════ formatting"
"$ward" fmt --check examples stdlib || status=1
exit $status
