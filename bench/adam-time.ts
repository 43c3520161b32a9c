/**
 * One AdamW step over 67 M float32 parameters (four 4096x4096, about DistilBERT-base's size), torch-lora's fused
 * loop and torch.optim's (foreach=False, its CPU default) side by side, medians of 10 steps.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/adam-time.js [threads]
 *
 * PyTorch is the project's .venv (or $PYTHON); without it only torch-lora is timed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backend, keep, optim, randn } from '../lib';
import { repoRoot } from './repo-root';

const threads = Number(process.argv[2] ?? 1);
backend.setNumThreads(threads);
const ps = [0, 1, 2, 3].map(() => keep(randn([4096, 4096]).requiresGrad_()));
for (const p of ps) p.grad = keep(randn([4096, 4096]));
const opt = new optim.AdamW(ps, { lr: 1e-3, weightDecay: 0.01 });
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
const times: number[] = [];
for (let i = 0; i < 12; i++) {
  const t0 = performance.now();
  opt.step();
  if (i >= 2) times.push(performance.now() - t0);
}
console.log(`AdamW step, 67 M parameters, ${threads} thread(s): torch-lora ${median(times).toFixed(1)} ms`);

const python = process.env.PYTHON ?? path.join(repoRoot(), '.venv', 'bin', 'python');
if (fs.existsSync(python)) {
  const script = `
import time, torch
torch.set_num_threads(${threads})
ps = [torch.randn(4096, 4096, requires_grad=True) for _ in range(4)]
for p in ps: p.grad = torch.randn(4096, 4096)
opt = torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01, foreach=False)
ts = []
for i in range(12):
    t0 = time.perf_counter(); opt.step()
    if i >= 2: ts.append((time.perf_counter() - t0) * 1e3)
print(sorted(ts)[len(ts) // 2])`;
  const r = spawnSync(python, ['-c', script], { encoding: 'utf8' });
  if (r.status === 0) console.log(`  torch.optim.AdamW: ${Number(r.stdout.trim()).toFixed(1)} ms`);
  else console.log(`  (PyTorch side failed: ${r.stderr.trim().split('\n').pop()})`);
}
