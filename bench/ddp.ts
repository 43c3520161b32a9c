/**
 * `npm run bench -- --only ddp`: tokens/s of the DistilBERT-base train step (8x128 per rank, 1 thread per process)
 * with 1 and 2 processes on this machine, for LoRA and full fine-tuning, and the time all-reduce takes per step.
 *
 *   node dist/bench/ddp.js [--steps N] [--tiny] [--out FILE]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launch } from '../lib/distributed/launch';

interface RankResult {
  rank: number;
  world: number;
  mode: string;
  stepMs: number;
  tokensPerSec: number;
  bytesPerSync: number;
  buckets: number;
  exposedWaitMs: number;
  allReduceMs: number | null;
}

async function runJob(nproc: number, mode: string, steps: number, tiny: boolean): Promise<RankResult[]> {
  const out: Record<number, string> = {};
  const code = await launch({
    nprocPerNode: nproc,
    masterPort: 29600 + nproc,
    script: path.join(__dirname, 'ddp-worker.js'),
    graceMs: 5000,
    env: { OMP_NUM_THREADS: '1', BENCH_MODE: mode, BENCH_STEPS: String(steps), BENCH_TINY: tiny ? '1' : '0' },
    onOutput: (rank, stream, chunk) => {
      if (stream === 'stdout') out[rank] = (out[rank] ?? '') + chunk;
      else process.stderr.write(chunk);
    },
    log: (l) => console.error(l),
  });
  if (code !== 0) throw new Error(`${mode} on ${nproc} process(es) failed`);
  return Object.values(out).map((s) => JSON.parse(s.trim().split('\n').pop()!));
}

export async function runDdpBench(argv: string[]): Promise<Record<string, unknown>> {
  const get = (n: string) => {
    const i = argv.indexOf(`--${n}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const tiny = argv.includes('--tiny');
  const steps = Number(get('steps') ?? (tiny ? 2 : 3));
  const results: Record<string, RankResult[]> = {};
  const lines = [
    '| mode | processes | tokens/s (all ranks) | speed-up | step ms | MiB all-reduced per step | all-reduce ms (alone) | share of step | wait left after backward ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const mode of ['lora', 'full']) {
    let single = 0;
    for (const nproc of [1, 2]) {
      const r = await runJob(nproc, mode, steps, tiny);
      results[`${mode}/${nproc}`] = r;
      const tps = r.reduce((s, x) => s + x.tokensPerSec, 0);
      if (nproc === 1) single = tps;
      const step = Math.max(...r.map((x) => x.stepMs));
      const ar = nproc > 1 ? Math.max(...r.map((x) => x.allReduceMs ?? 0)) : null;
      const wait = nproc > 1 ? Math.max(...r.map((x) => x.exposedWaitMs)) : null;
      lines.push(
        `| ${mode} | ${nproc} | ${tps.toFixed(0)} | ${(tps / single).toFixed(2)}x | ${step.toFixed(0)} | ${(r[0].bytesPerSync / 2 ** 20).toFixed(2)} | ${ar === null ? '-' : ar.toFixed(1)} | ${ar === null ? '-' : `${((100 * ar) / step).toFixed(2)}%`} | ${wait === null ? '-' : wait.toFixed(1)} |`,
      );
    }
  }
  console.log(lines.join('\n'));
  const report = { date: new Date().toISOString(), tiny, steps, table: lines, results };
  const file = get('out');
  if (file) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(report, null, 2));
  }
  return report;
}

if (require.main === module) {
  runDdpBench(process.argv.slice(2)).catch((e) => {
    console.error(`ddp bench: ${e.message}`);
    process.exitCode = 1;
  });
}
