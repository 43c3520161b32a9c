/**
 * One compact table from several `npm run bench` result files (e.g. 1 thread and all cores), for README.md and
 * docs/performance.md: per workload and dtype, the ratio to PyTorch and to HF+peft at each thread count, and peak
 * memory (ours / PyTorch) from the first file.
 *
 *   node dist/bench/summary.js bench/results/latest.json bench/results/all-cores/latest.json
 */
import * as fs from 'node:fs';

interface Row {
  workload: string; dtype: string; metric: string; unit: string;
  ratio: number | null; hfRatio: number | null; peakTorchLora: number | null; peakPytorch: number | null;
}
interface Result { threads: number; rows: Row[]; machine?: unknown; versions?: Record<string, string | null> }

const fmt = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(2));
const mib = (b: number | null) => (b ? String(Math.round(b / 2 ** 20)) : '');

export function summary(results: Result[]): string {
  const key = (r: Row) => `${r.workload}|${r.dtype}|${r.metric}`;
  const byFile = results.map((res) => new Map(res.rows.map((r) => [key(r), r])));
  const head = ['workload', 'dtype', 'measure', ...results.flatMap((r) => [`vs PyTorch, ${r.threads} thr`, `vs HF+peft, ${r.threads} thr`]), 'peak MiB ours / PyTorch'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  const seen = new Set<string>();
  for (const r of results[0].rows) {
    const k = key(r);
    if (seen.has(k) || r.workload.startsWith('scale-128')) continue; // scale-128 repeats train-lora
    seen.add(k);
    const cells = byFile.flatMap((m) => { const x = m.get(k); return [fmt(x?.ratio), fmt(x?.hfRatio)]; });
    const peak = r.peakTorchLora ? `${mib(r.peakTorchLora)} / ${mib(r.peakPytorch)}` : '';
    lines.push(`| ${r.workload} | ${r.dtype} | ${r.metric} | ${cells.join(' | ')} | ${peak} |`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length === 0) throw new Error('usage: node dist/bench/summary.js RESULT.json [RESULT.json ...]');
  console.log(summary(files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as Result)));
}
