#!/usr/bin/env bash
# The VS Code extension: TextMate grammar tests and packaging.
set -euo pipefail
exec bash "$(dirname "$0")/../../editors/vscode/test.sh"
