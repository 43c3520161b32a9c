'use strict';
// The body of the worker threads that test/worker.test.ts starts.
//
// How the worker gets the library: worker.test.ts transpiles the core TypeScript sources of lib/ (tensor,
// creation, scope, autograd and what they import) to CommonJS in a temporary folder once, with the `typescript`
// package already in devDependencies (ts-node is not installed), and passes that folder here as `libDir`. That is
// the simplest robust choice: no tsc build of the whole project (which other half-finished modules could break,
// and which takes a minute), no stale dist/, and a worker starts in milliseconds instead of re-transpiling.
// lib/native.ts finds the addon through TORCH_LORA_ADDON; the addon is context-aware, so this thread gets its
// own tensor table.
const path = require('node:path');
const { parentPort, workerData } = require('node:worker_threads');

const lib = (name) => require(path.join(workerData.libDir, name));
const torch = { ...lib('tensor'), ...lib('creation'), ...lib('scope'), ...lib('autograd') };

function fromEncoded(e, requiresGrad) {
  const t = torch.fromBuffer(Float32Array.from(e.values), e.shape, 'float32', { requiresGrad });
  return t;
}

const { W, x, iterations, mode } = workerData;
const flat = (t) => Array.from(t.dataSync());

if (mode === 'data-pending') {
  // Keeps many asynchronous read-backs in flight (each completes on the main loop of this thread) while it
  // also computes synchronously, until the test terminates the worker.
  const big = torch.rand([1024, 1024]);
  parentPort.postMessage({ started: true });
  const spin = () => {
    for (let k = 0; k < 8; k++)
      big.data().then(
        () => undefined,
        () => undefined,
      );
    torch.tidy(() => big.matmul(big).sum().item());
    setImmediate(spin);
  };
  spin();
} else if (mode === 'error') {
  // A libtorch exception inside a worker is a normal JS error there too.
  let message = null;
  try {
    torch.ones([2, 3]).matmul(torch.ones([4, 5]));
  } catch (e) {
    message = e.message;
  }
  parentPort.postMessage({ message, after: flat(torch.ones([2]).add(1)) });
} else {
  // Grad mode is per thread: turning it off here must not affect the main thread.
  torch.setGradEnabled(false);
  const gradOffHere = !torch.isGradEnabled();
  torch.setGradEnabled(true);
  torch.setGradEnabled(false);

  const results = [];
  let big = 0;
  for (let i = 0; i < iterations; i++) {
    const r = torch.tidy(() =>
      torch.enableGrad(() => {
        const Wt = fromEncoded(W, true);
        const xt = fromEncoded(x, true);
        const y = Wt.matmul(xt).relu().sum();
        y.backward();
        // Some bigger work too, so that the threads really overlap inside libtorch.
        const m = torch
          .ones([96, 96])
          .mul(0.01)
          .matmul(torch.ones([96, 96]));
        big = m.sum().item();
        return { y: y.item(), gradW: flat(Wt.grad), gradX: flat(xt.grad) };
      }),
    );
    results.push(r);
  }
  parentPort.postMessage({
    gradOffHere,
    first: results[0],
    allSame: results.every((r) => JSON.stringify(r) === JSON.stringify(results[0])),
    big,
    liveTensors: torch.memory().numTensors,
  });
}
