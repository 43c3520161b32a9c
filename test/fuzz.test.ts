// The fuzz suite of issue 14 for the file parsers: safetensors headers, the zip reader, the unpickler, whole torch
// checkpoints, config.json loading and the tar reader. Each target's cases (random and structure-aware mutations of
// valid inputs, see helpers/fuzz-targets.ts) run in a child process with a V8 heap limit, so that a crash, an
// out-of-memory or a hang would end only that child and be reported with the case that caused it. Every case must
// parse or throw an Error whose message names the input, within a time and memory bound.
//
// Seeded: FUZZ_SEED=<n> runs another set; one case alone: node test/helpers/fuzz-child.js <target> <seed> <index> 1
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const SEED = Number(process.env.FUZZ_SEED ?? 14);
const CHILD = path.join(__dirname, 'helpers', 'fuzz-child.js');
const HEAP_LIMIT_MIB = 256;
const CHILD_TIMEOUT_MS = 60_000;
// Bounds every case must meet: a parser's work is bounded by its input, and these inputs are at most a few MB (the
// slowest, 3 MB pickles, take about 0.2 s alone; the margin is for a loaded machine).
const MAX_CASE_MS = 5_000;
const MAX_RSS_MIB = 512;

const PLAN: [target: string, cases: number][] = [
  ['safetensors', 4000],
  ['zip', 4000],
  ['unpickler', 4000],
  ['checkpoint', 2000],
  ['config', 3000],
  ['tar', 3000],
];

interface Summary {
  target: string;
  cases: number;
  parsed: number;
  refused: number;
  maxCaseMs: number;
  slowestCase: number;
  totalMs: number;
  maxRssMiB: number;
  peakRssMiB: number;
  failures: { index: number; error: string }[];
}

interface ChildResult {
  summary?: Summary;
  lastCase?: number;
  exit: string;
  stderr: string;
}

function runChild(target: string, cases: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [`--max-old-space-size=${HEAP_LIMIT_MIB}`, CHILD, target, String(SEED), '0', String(cases)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-100_000);
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4_000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out.trim().split('\n');
      const last = lines[lines.length - 1] ?? '';
      const progress = lines.filter((l) => l.startsWith('@'));
      resolve({
        summary: last.startsWith('{"target"') ? (JSON.parse(last) as Summary) : undefined,
        lastCase: progress.length ? Number(progress[progress.length - 1].slice(1)) : undefined,
        exit: signal ? `signal ${signal}` : `code ${code}`,
        stderr: `${err}${last.startsWith('{"fatal"') ? last : ''}`,
      });
    });
  });
}

/** Runs the plan two children at a time (the machines have two cores). */
async function runAll(): Promise<Map<string, ChildResult>> {
  const results = new Map<string, ChildResult>();
  const queue = [...PLAN];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) results.set(next[0], await runChild(...next));
  };
  await Promise.all([worker(), worker()]);
  return results;
}

let results: Map<string, ChildResult>;
beforeAll(async () => {
  results = await runAll();
  const rows = PLAN.map(([target]) => {
    const s = results.get(target)?.summary;
    return s
      ? `${target.padEnd(12)} ${String(s.cases).padStart(6)} cases  ${String(s.parsed).padStart(5)} parsed  ${String(s.refused).padStart(5)} refused  ` +
          `max ${s.maxCaseMs.toFixed(1)} ms/case (mean ${(s.totalMs / s.cases).toFixed(2)})  max RSS ${s.peakRssMiB.toFixed(0)} MiB`
      : `${target}: no summary`;
  });
  console.log(`fuzz seed ${SEED}, heap limit ${HEAP_LIMIT_MIB} MiB per child\n${rows.join('\n')}`);
}, 5 * CHILD_TIMEOUT_MS);

describe.each(PLAN)('fuzz %s', (target, cases) => {
  test(`${cases} cases: the process lives, every error is an Error naming the input, time and memory bounded`, () => {
    const r = results.get(target)!;
    const reproduce = `node test/helpers/fuzz-child.js ${target} ${SEED} ${r.lastCase} 1`;
    if (!r.summary)
      throw new Error(
        `fuzz ${target}: the child died (${r.exit}) at case ${r.lastCase}; reproduce with: ${reproduce}\n${r.stderr}`,
      );
    expect(r.summary.failures).toEqual([]);
    expect(r.summary.cases).toBe(cases);
    expect(r.summary.refused).toBeGreaterThan(0);
    expect(r.summary.maxCaseMs).toBeLessThan(MAX_CASE_MS);
    expect(r.summary.peakRssMiB).toBeLessThan(MAX_RSS_MIB);
  });
});
