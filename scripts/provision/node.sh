# Node.js ≥ 20 and npm, for the VS Code extension's tests and packaging
# (scripts/suites/vscode.sh). Debian bookworm's nodejs is 18, too old for
# @vscode/vsce 3 (its undici needs the global `File`): where the node in PATH
# is older than 20, node 20 comes from the npm registry (the `node` package)
# into $WARD_TOOLS_DIR/node20 and is put first in PATH.
if ! command -v npm >/dev/null 2>&1; then
  ward_apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  if [ ! -x "$WARD_TOOLS_DIR/node20/node_modules/.bin/node" ]; then
    echo "provision: node@20 from the npm registry into $WARD_TOOLS_DIR/node20 (found node $node_major)" >&2
    npm install --no-audit --no-fund --prefix "$WARD_TOOLS_DIR/node20" node@20 >/dev/null
  fi
  PATH="$WARD_TOOLS_DIR/node20/node_modules/.bin:$PATH"
  export PATH
fi
