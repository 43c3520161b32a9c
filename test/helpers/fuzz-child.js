'use strict';
// One batch of fuzz cases for one target, run by test/fuzz.test.ts in a child process with a heap limit, so that a
// crash, an out-of-memory or a hang takes down only this batch, and the parent can say which case did it.
//
//   node --max-old-space-size=256 test/helpers/fuzz-child.js <target> <seed> <first case> <count>
//
// Before each case it prints "@<index>" (stdout is a pipe, written synchronously on Linux); at the end one JSON line
// with what it saw: the outcome counts, the slowest case, the largest RSS after a case, and the first failures (a
// result that is neither a normal return nor an Error naming the input).
require('./ts-require');
const { TARGETS, Rng } = require('./fuzz-targets.ts');

async function main() {
  const [name, seedText, firstText, countText] = process.argv.slice(2);
  const target = TARGETS[name];
  if (!target) throw new Error(`unknown fuzz target ${name}`);
  const seed = Number(seedText);
  const first = Number(firstText);
  const count = Number(countText);
  const summary = {
    target: name,
    cases: 0,
    parsed: 0,
    refused: 0,
    maxCaseMs: 0,
    slowestCase: -1,
    totalMs: 0,
    maxRssMiB: 0,
    failures: [],
  };
  for (let index = first; index < first + count; index++) {
    process.stdout.write(`@${index}\n`);
    // Each case has its own generator, so any case is reproducible alone from (target, seed, index).
    const rng = new Rng((seed * 0x9e3779b1 + index) | 0);
    const input = target.make(rng);
    const source = `fuzz-${name}-${seed}-${index}`;
    const start = process.hrtime.bigint();
    try {
      await target.run(input, source);
      summary.parsed++;
    } catch (e) {
      if (e instanceof Error && e.message.includes(source)) summary.refused++;
      else if (summary.failures.length < 10) {
        summary.failures.push({
          index,
          error:
            e instanceof Error
              ? `${e.constructor.name}: ${e.message.slice(0, 300)}`
              : `non-Error ${String(e).slice(0, 100)}`,
        });
      }
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    summary.cases++;
    summary.totalMs += ms;
    if (ms > summary.maxCaseMs) {
      summary.maxCaseMs = ms;
      summary.slowestCase = index;
    }
    summary.maxRssMiB = Math.max(summary.maxRssMiB, process.memoryUsage().rss / 2 ** 20);
  }
  summary.peakRssMiB = peakRssMiB();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

// The process's own high-water mark. Not getrusage's maxRSS: Linux keeps that across exec, so a child of a large
// jest worker would report the worker's size.
function peakRssMiB() {
  try {
    const match = /VmHWM:\s*(\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ fatal: String((e && e.stack) || e) })}\n`);
  process.exitCode = 1;
});
