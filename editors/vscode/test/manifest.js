// Every command the extension registers is declared in package.json
// (`contributes.commands`), so that VS Code shows it in the command palette
// and (VS Code ≥ 1.74) activates the extension for it; and every declared
// one is registered.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const source = fs.readFileSync(path.join(root, "extension.js"), "utf8");

const registered = [...source.matchAll(/registerCommand\(\s*"([^"]+)"/g)].map((m) => m[1]);
const declared = ((manifest.contributes || {}).commands || []).map((c) => c.command);

let failures = 0;
function fail(message) {
  console.error(`manifest: ${message}`);
  failures += 1;
}
if (registered.length === 0) fail("extension.js registers no command (the pattern no longer matches?)");
for (const c of registered) {
  if (!declared.includes(c)) fail(`\`${c}\` is registered in extension.js but not declared in contributes.commands`);
}
for (const c of declared) {
  if (!registered.includes(c)) fail(`\`${c}\` is declared in package.json but extension.js never registers it`);
  const entry = manifest.contributes.commands.find((x) => x.command === c);
  if (!entry.title) fail(`\`${c}\` has no title`);
}
if (failures > 0) process.exit(1);
console.log(`manifest: ${registered.length} command(s) registered and declared`);
