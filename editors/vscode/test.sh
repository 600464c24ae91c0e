#!/usr/bin/env bash
# The VS Code extension's checks: install its npm dependencies, test the
# TextMate grammar (assertion tests, then every bundled example and stdlib
# module), and package the extension (`npm run package` → ward-*.vsix).
# Separate from `cargo test` so that the Rust suite never needs npm.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
npm test
npm run package
ls -l ./*.vsix
