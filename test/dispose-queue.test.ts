// Tensor.dispose() does not call the addon: it writes the handle into a buffer shared with it, and the next native
// call frees what is queued before anything else (lib/scope.ts release, native TensorTable::drainPending). What a
// user sees must be what an immediate free gives, whatever JavaScript does to that buffer.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as torch from '../lib';
import { N } from '../lib/native';
import { ensureCompiled, ROOT } from './helpers/compiled';
import { liveTensors as live } from './helpers/gc';

describe('the dispose queue', () => {
  // Tensor.dispose() writes the handle into a buffer shared with the addon, which frees it at the start of the next
  // native call (lib/scope.ts release): what the user sees must be the same as an immediate free.
  const queue = new Int32Array(N.pendingFrees()); // the buffer lib/scope.ts writes: [count, handle, ...]

  test('a chain that disposes as it goes reuses the freed slot at every op: the table does not grow', () => {
    const start = N.memory();
    let x = torch.ones([8, 8]);
    for (let i = 0; i < 10_000; i++) {
      const y = x.add(1);
      x.dispose();
      x = y;
    }
    expect(x.toArray()[0][0]).toBe(10_001);
    x.dispose();
    const end = N.memory();
    expect(end.numTensors).toBe(start.numTensors);
    expect(end.tableSize).toBeLessThanOrEqual(start.tableSize + 2);
  });

  test('more disposes than the queue holds free themselves; the rest are freed once JavaScript goes idle', async () => {
    const before = live();
    const ts = Array.from({ length: 1000 }, () => torch.ones([4]));
    for (const t of ts) t.dispose();
    expect(queue[0]).toBeGreaterThan(0);
    expect(queue[0]).toBeLessThan(queue.length - 1);
    await Promise.resolve();
    expect(queue[0]).toBe(0);
    expect(ts.every((t) => t.isDisposed)).toBe(true);
    expect(live()).toBe(before);
  });
});

// JavaScript that writes junk into the queue or takes its buffer away runs in a child process of its own: the jest
// worker's table is shared by the test files it runs.
describe('the dispose queue from outside', () => {
  const lib = JSON.stringify(path.join(ROOT, 'dist', 'lib'));
  const native = JSON.stringify(path.join(ROOT, 'dist', 'lib', 'native'));
  const run = (body: string): unknown => {
    ensureCompiled(path.join(ROOT, 'dist', 'lib', 'index.js'));
    const script = `const torch = require(${lib}); const { N } = require(${native}); ${body}`;
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
  };

  test('a corrupt queue (a count out of range, junk handles) frees nothing it should not and does not crash', () => {
    const out = run(`
      const queue = new Int32Array(N.pendingFrees());
      const keep = torch.ones([3]);
      const before = torch.memory().numTensors;
      const seen = [];
      for (const count of [-1, 0x7fffffff, queue.length + 5]) {
        queue[0] = count;
        for (let k = 1; k < queue.length; k++) queue[k] = k * 7919;
        seen.push(keep.add(1).toArray(), queue[0]);
      }
      process.stdout.write(JSON.stringify([seen, torch.memory().numTensors - before, keep.toArray()]));
    `);
    expect(out).toEqual([[[2, 2, 2], 0, [2, 2, 2], 0, [2, 2, 2], 0], 3, [1, 1, 1]]);
  });

  test('a queue buffer transferred away, then collected, leaves the addon working and freeing', () => {
    const out = run(`
      let buffer = N.pendingFrees();
      structuredClone(buffer, { transfer: [buffer] });
      buffer = null;
      require('node:v8').setFlagsFromString('--expose-gc');
      require('node:vm').runInNewContext('gc')();
      let x = torch.ones([4]);
      for (let i = 0; i < 1000; i++) { const y = x.add(1); x.dispose(); x = y; }
      process.stdout.write(JSON.stringify([x.toArray(), torch.memory().numTensors]));
    `);
    expect(out).toEqual([[1001, 1001, 1001, 1001], 1]);
  });
});
