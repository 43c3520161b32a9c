'use strict';
// One rank of a test/distributed*.test.ts job, run as its own process (torchrun's variables in the environment).
// It loads the library transpiled by the test (DIST_LIB_DIR), runs DIST_SCENARIO from test/distributed/distributed-scenarios.js
// and prints one JSON line: { result } or { error, elapsedMs }.
const path = require('node:path');
const scenarios = require('./distributed-scenarios');

const lib = (name) => require(path.join(process.env.DIST_LIB_DIR, name));
const started = Date.now();
(async () => {
  const fn = scenarios[process.env.DIST_SCENARIO];
  if (!fn) throw new Error(`unknown scenario ${process.env.DIST_SCENARIO}`);
  const args = JSON.parse(process.env.DIST_ARGS || '{}');
  return fn(lib, args);
})().then(
  (result) => finish({ result }, 0),
  (e) => finish({ error: String(e && e.message), elapsedMs: Date.now() - started }, 3),
);

// Exits once the line is flushed: stdout is an asynchronous pipe, and exit() would cut a long line short.
function finish(value, code) {
  process.stdout.write(`${JSON.stringify(value)}\n`, () => process.exit(code));
}
