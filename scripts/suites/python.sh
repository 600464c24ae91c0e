#!/usr/bin/env bash
# The Python package (python/): built into the venv of
# scripts/provision/python.sh with maturin — in the cargo target directory
# the Rust tests used, so their dependencies are not compiled again — then
# its tests (pytest), which drive the real frameworks with scripted models.
# Nothing is skipped: a missing venv, framework or binary is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${WARD_PYTHON_VENV:-}" ] || [ ! -x "$WARD_PYTHON_VENV/bin/python" ]; then
  echo "error: WARD_PYTHON_VENV is not a virtual environment; run scripts/test (it sources scripts/provision/python.sh)" >&2
  exit 1
fi
CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
export CARGO_TARGET_DIR

# The bundle tests sign and build bundles with the CLI: the binary the cargo
# tests built (a build of it alone would unify features differently and
# compile much of the graph again).
WARD_BIN="${WARD_BIN:-$CARGO_TARGET_DIR/debug/ward}"
[ -x "$WARD_BIN" ] || cargo build -q --locked --bin ward
export WARD_BIN

echo "== maturin develop (python/ into $WARD_PYTHON_VENV)"
VIRTUAL_ENV="$WARD_PYTHON_VENV" PATH="$WARD_PYTHON_VENV/bin:$PATH" \
  "$WARD_PYTHON_VENV/bin/maturin" develop --locked --quiet --manifest-path python/Cargo.toml

echo "== pytest python/tests"
cd python
exec "$WARD_PYTHON_VENV/bin/python" -m pytest -q -p no:cacheprovider tests
