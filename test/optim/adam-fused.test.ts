// The fused Adam/AdamW loop (native/fused_optim.cc: one pass per parameter, vectorized, split across threads) against
// live torch.optim on parameters large enough for the vector body, the tail and several threads' ranges
// (100,003 elements), with every variant it compiles separately: AdamW, Adam with L2 decay, amsgrad, maximize.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backend, fromBuffer, keep, optim, tidy } from '../../lib';
import { describeWithPython } from '../helpers/python';

const N = 100_003;
const STEPS = 4;
const CONFIGS = [
  { name: 'AdamW', cls: 'AdamW', opts: { lr: 1e-2, weight_decay: 0.1 } },
  { name: 'Adam with L2 decay', cls: 'Adam', opts: { lr: 1e-2, weight_decay: 0.1 } },
  { name: 'AdamW amsgrad', cls: 'AdamW', opts: { lr: 1e-2, weight_decay: 0.1, amsgrad: true } },
  {
    name: 'Adam amsgrad maximize',
    cls: 'Adam',
    opts: { lr: 1e-3, amsgrad: true, maximize: true, betas: [0.8, 0.99], eps: 1e-6 },
  },
] as const;

// Writes the start, every step's gradient and each config's result as raw float32 (n each, in that order).
const REFERENCE = `
import json, sys, torch
inp = json.load(sys.stdin)
n, steps = inp['n'], inp['steps']
g = torch.Generator().manual_seed(7)
start = torch.randn(n, generator=g)
grads = [torch.randn(n, generator=g) * (0.1 if s % 2 else 1.0) for s in range(steps)]
out = [start] + grads
for c in inp['configs']:
    p = start.clone().requires_grad_()
    opt = getattr(torch.optim, c['cls'])([p], foreach=False, **c['opts'])
    for s in range(steps):
        p.grad = grads[s].clone()
        opt.step()
    out.append(p.detach())
open(inp['file'], 'wb').write(torch.cat(out).numpy().tobytes())
`;

describeWithPython('fused Adam/AdamW agree with torch.optim', ['torch'], (python) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'adam-fused-')), 'ref.bin');
  beforeAll(() => {
    execFileSync(python, ['-c', REFERENCE], {
      input: JSON.stringify({ n: N, steps: STEPS, file, configs: CONFIGS.map(({ cls, opts }) => ({ cls, opts })) }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  });
  const slice = (k: number) => {
    const bytes = fs.readFileSync(file);
    return fromBuffer(bytes.subarray(k * N * 4, (k + 1) * N * 4), [N], 'float32');
  };

  for (const threads of [1, 2]) {
    for (const [c, config] of CONFIGS.entries()) {
      it(`${config.name}, ${threads} thread(s): within 1e-6 after ${STEPS} steps`, () => {
        const before = backend.getNumThreads();
        backend.setNumThreads(threads);
        try {
          tidy(() => {
            const p = keep(slice(0).requiresGrad_());
            const o = config.opts as {
              lr: number;
              weight_decay: number;
              amsgrad?: boolean;
              maximize?: boolean;
              betas?: [number, number];
              eps?: number;
            };
            const opts = {
              lr: o.lr,
              weightDecay: o.weight_decay ?? 0,
              amsgrad: o.amsgrad ?? false,
              maximize: o.maximize ?? false,
              betas: o.betas,
              eps: o.eps,
            };
            const clean = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
            const opt = config.cls === 'AdamW' ? new optim.AdamW([p], clean) : new optim.Adam([p], clean);
            for (let s = 0; s < STEPS; s++) {
              p.grad = slice(1 + s);
              opt.step();
            }
            const want = slice(1 + STEPS + c).dataSync() as Float32Array;
            const got = p.dataSync() as Float32Array;
            let worst = 0;
            for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
            expect(worst).toBeLessThan(1e-6);
            // and it moved: the comparison can tell a step from none
            const start = slice(0).dataSync() as Float32Array;
            expect(Math.abs(got[12345] - start[12345])).toBeGreaterThan(1e-5);
            opt.dispose();
            p.dispose();
          });
        } finally {
          backend.setNumThreads(before);
        }
      });
    }
  }
});
