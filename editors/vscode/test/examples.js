// Tokenizes every bundled example (and the stdlib) with the TextMate grammar,
// as VS Code does, and checks what a reader sees: every comment is a comment,
// every string a string, every reserved word of Ward's lexer a keyword,
// variable, operator or constant, and no line leaves text unscoped but
// whitespace and punctuation. Exits non-zero on the first problem per file.
"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const root = path.resolve(__dirname, "..", "..", "..");
// Ward's one list of reserved words, read from the lexer.
const RESERVED = (() => {
  const lexer = fs.readFileSync(path.join(root, "grammar", "src", "lexer.rs"), "utf8");
  const m = lexer.match(/pub const RESERVED_WORDS: \[&str; \d+\] = \[([^\]]*)\]/);
  if (!m) throw new Error("RESERVED_WORDS not found in grammar/src/lexer.rs");
  const words = [...m[1].matchAll(/"([a-z_]+)"/g)].map((x) => x[1]);
  if (words.length < 20) throw new Error(`RESERVED_WORDS: only ${words.length} words read`);
  return new Set(words);
})();

function wardFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...wardFiles(p));
    else if (entry.name.endsWith(".ward")) out.push(p);
  }
  return out.sort();
}

async function main() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope) => {
      if (scope !== "source.ward") return null;
      const file = path.join(__dirname, "..", "syntaxes", "ward.tmLanguage.json");
      return vsctm.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
    },
  });
  const grammar = await registry.loadGrammar("source.ward");
  const files = [...wardFiles(path.join(root, "examples")), ...wardFiles(path.join(root, "stdlib"))];
  let failures = 0;
  let tokens = 0;
  for (const file of files) {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    let ruleStack = vsctm.INITIAL;
    const problems = [];
    lines.forEach((line, i) => {
      const result = grammar.tokenizeLine(line, ruleStack);
      ruleStack = result.ruleStack;
      for (const t of result.tokens) {
        tokens++;
        const text = line.slice(t.startIndex, t.endIndex);
        const scopes = t.scopes.join(" ");
        const where = `${path.relative(root, file)}:${i + 1}:${t.startIndex + 1}`;
        if (/invalid/.test(scopes)) problems.push(`${where}: \`${text}\` is ${scopes}`);
        if (text.trim().startsWith("//") && !/comment/.test(scopes)) {
          problems.push(`${where}: comment \`${text}\` is ${scopes}`);
        }
        const word = text.trim();
        // After `.` every word is a member name (`current.resource`).
        if (RESERVED.has(word) && !/comment|string|keyword|variable\.language|variable\.other\.property|constant\.language|entity\.name\.function\.decorator/.test(scopes)) {
          problems.push(`${where}: reserved word \`${word}\` is ${scopes}`);
        }
        // Plain names (rule arguments, enum values, action names) may stay unscoped; nothing else.
        const plain = text.split(/[\s,]+/).every((w) => w === "" || /^[a-z_][a-z0-9_]*$/.test(w));
        if (t.scopes.length === 1 && text.trim() !== "" && !/^[\s.,;:]+$/.test(text) && !plain) {
          problems.push(`${where}: \`${text}\` has no scope`);
        }
      }
    });
    if (problems.length > 0) {
      failures++;
      console.log(`FAIL ${path.relative(root, file)}`);
      for (const p of problems.slice(0, 10)) console.log(`  ${p}`);
    } else {
      console.log(`ok   ${path.relative(root, file)}`);
    }
  }
  console.log(`${files.length - failures} passed, ${failures} failed`);
  console.log(`(${tokens} tokens)`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
