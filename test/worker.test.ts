// The addon in worker_threads: two workers run matmul + backward concurrently with the main thread, all get
// PyTorch's numbers, the workers exit cleanly, and the main thread keeps working. The worker body is
// test/worker-thread.js; it runs the core TypeScript API, transpiled here in beforeAll (see the comment there).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as torch from '../lib';
import { expectMatches, fixture, make } from './helpers/op-fixtures';
import { transpileLib } from './helpers/transpile-lib';

const fx = fixture();
const c = fx.autograd.find((a) => a.name === 'matmul-relu')!;
const W = c.W as never;
const x = c.x;

const root = path.join(__dirname, '..');
let libDir = '';

beforeAll(() => {
  libDir = fs.mkdtempSync(path.join(os.tmpdir(), 'torch-lora-worker-'));
  transpileLib(['tensor', 'creation', 'scope', 'autograd'], libDir);
});
afterAll(() => {
  if (libDir) fs.rmSync(libDir, { recursive: true, force: true });
});

interface Result {
  gradOffHere: boolean;
  first: { y: number; gradW: number[]; gradX: number[] };
  allSame: boolean;
  big: number;
  liveTensors: number;
}

function start(workerData: object): { worker: Worker; result: Promise<unknown>; exit: Promise<number> } {
  const worker = new Worker(path.join(__dirname, 'worker-thread.js'), {
    workerData: { ...workerData, libDir },
    env: {
      ...process.env,
      TORCH_LORA_ADDON: process.env.TORCH_LORA_ADDON ?? path.join(root, 'build', 'Release', 'torch_lora.node'),
    },
  });
  const result = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const exit = new Promise<number>((resolve) => worker.once('exit', resolve));
  return { worker, result, exit };
}

/** The same computation on the main thread, compared with PyTorch. */
function computeOnMain(): void {
  torch.tidy(() => {
    const Wt = make(W, true);
    const xt = make(x, true);
    const y = Wt.matmul(xt).relu().sum();
    y.backward();
    expectMatches(y, c.y as never, 'y');
    expectMatches(Wt.grad!, c.gradW as never, 'gradW');
    expectMatches(xt.grad!, c.grad, 'grad x');
  });
}

const close = (got: number[], want: { values: unknown[] }) =>
  got.length === want.values.length &&
  got.every((g, i) => Math.abs(g - Number(want.values[i])) <= 1e-6 + 1e-5 * Math.abs(Number(want.values[i])));

test('two workers and the main thread compute concurrently and agree with PyTorch', async () => {
  const before = torch.memory().numTensors;
  const jobs = [start({ W, x, iterations: 150 }), start({ W, x, iterations: 150 })];
  // Main-thread work while the workers run (they start asynchronously; keep going until both have answered).
  let answered = 0;
  jobs.forEach((j) =>
    j.result.then(
      () => answered++,
      () => answered++,
    ),
  );
  let mainIterations = 0;
  while (answered < 2 && mainIterations < 100000) {
    computeOnMain();
    mainIterations++;
    await new Promise((r) => setImmediate(r));
  }
  expect(mainIterations).toBeGreaterThan(0);
  const results = (await Promise.all(jobs.map((j) => j.result))) as Result[];
  for (const r of results) {
    expect(r.gradOffHere).toBe(true);
    expect(r.allSame).toBe(true);
    expect(r.first.y).toBeCloseTo(Number((c.y as { values: number[] }).values[0]), 5);
    expect(close(r.first.gradW, c.gradW as never)).toBe(true);
    expect(close(r.first.gradX, c.grad)).toBe(true);
    expect(r.big).toBeCloseTo(96 * 96 * 96 * 0.01, 1);
    // Every tensor the worker made inside tidy was freed in its own table.
    expect(r.liveTensors).toBe(0);
  }
  const codes = await Promise.all(jobs.map((j) => j.exit));
  expect(codes).toEqual([0, 0]);
  // The workers turned grad mode off in their threads only.
  expect(torch.isGradEnabled()).toBe(true);
  // The main thread still works, and its table was not touched by the workers. (Only "at most": jest runs other
  // test files in this process, and the GC may finalize their leftover tensors during the awaits above.)
  expect(torch.memory().numTensors).toBeLessThanOrEqual(before);
  const now = torch.memory().numTensors;
  computeOnMain();
  expect(torch.memory().numTensors).toBe(now);
});

test('a libtorch error inside a worker is a JS error there, and the worker keeps working and exits cleanly', async () => {
  const job = start({ W, x, mode: 'error' });
  const r = (await job.result) as { message: string; after: number[] };
  expect(r.message).toMatch(/^matmul: mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)/);
  expect(r.after).toEqual([2, 2]);
  expect(await job.exit).toBe(0);
  computeOnMain();
});

test('a worker terminated mid-run does not take the process down', async () => {
  const job = start({ W, x, iterations: 100000 });
  await new Promise((r) => setTimeout(r, 1500));
  const code = await job.worker.terminate();
  expect(code).toBe(1);
  computeOnMain();
  expect(torch.tidy(() => torch.ones([3]).sum().item())).toBe(3);
});

test('workers terminated while tensor.data() read-backs are pending do not take the process down', async () => {
  // Before the fix this aborted the process ("terminate called after throwing an instance of 'Napi::Error'"):
  // the read-back's completion ran while the worker's environment was torn down and threw out of a C callback.
  for (let round = 0; round < 6; round++) {
    const job = start({ W, x, mode: 'data-pending' });
    await job.result;
    await new Promise((r) => setTimeout(r, 50 + 40 * round));
    expect(await job.worker.terminate()).toBe(1);
  }
  computeOnMain();
  expect(Array.from(await torch.ones([4]).mul(2).data())).toEqual([2, 2, 2, 2]);
});
