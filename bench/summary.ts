/**
 * One compact table from several `npm run bench` result files (e.g. 1 thread and all cores), for README.md and
 * docs/performance.md: per workload and dtype, the ratio to PyTorch and to HF+peft at each thread count, and peak
 * memory (ours / PyTorch) from the first file.
 *
 *   node dist/bench/summary.js bench/results/latest.json bench/results/all-cores/latest.json bench/results/amp/latest.json
 */
import * as fs from 'node:fs';

interface Row {
  workload: string;
  dtype: string;
  metric: string;
  unit: string;
  ratio: number | null;
  hfRatio: number | null;
  peakTorchLora: number | null;
  peakPytorch: number | null;
}
interface Result {
  threads: number;
  rows: Row[];
  machine?: unknown;
  versions?: Record<string, string | null>;
}

const fmt = (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(2);
const mib = (b: number | null) => (b ? String(Math.round(b / 2 ** 20)) : '');

export function summary(results: Result[]): string {
  const key = (r: Row) => `${r.workload}|${r.dtype}|${r.metric}`;
  // Columns: one pair per thread count; rows: every workload/dtype/measure of any file (e.g. an amp run beside fp32+bf16).
  const threads = [...new Set(results.map((r) => r.threads))];
  const lookup = new Map<string, Row>();
  for (const res of results) for (const r of res.rows) lookup.set(`${res.threads}|${key(r)}`, r);
  const head = [
    'workload',
    'dtype',
    'measure',
    ...threads.flatMap((t) => [`vs PyTorch, ${t} thr`, `vs HF+peft, ${t} thr`]),
    'peak MiB ours / PyTorch',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  const seen = new Set<string>();
  for (const r of results.flatMap((res) => res.rows)) {
    const k = key(r);
    if (seen.has(k) || r.workload === 'scale-128') continue; // scale-128 repeats train-lora
    seen.add(k);
    const cells = threads.flatMap((t) => {
      const x = lookup.get(`${t}|${k}`);
      return [fmt(x?.ratio), fmt(x?.hfRatio)];
    });
    const first = lookup.get(`${threads[0]}|${k}`) ?? r;
    const peak = first.peakTorchLora ? `${mib(first.peakTorchLora)} / ${mib(first.peakPytorch)}` : '';
    lines.push(`| ${r.workload} | ${r.dtype} | ${r.metric} | ${cells.join(' | ')} | ${peak} |`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length === 0) throw new Error('usage: node dist/bench/summary.js RESULT.json [RESULT.json ...]');
  console.log(summary(files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as Result)));
}
