# Node.js and npm, for the VS Code extension's tests (scripts/suites/vscode.sh).
if ! command -v npm >/dev/null 2>&1; then
  ward_apt_install nodejs npm
fi
