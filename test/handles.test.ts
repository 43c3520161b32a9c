// Issue 14, item 18: tensor handles cannot be forged. A handle number taken from a live tensor, a disposed one, a
// worker thread or NaN never reaches someone else's tensor: the constructor is closed, and the native table checks
// each handle's generation, scrambled with a random key of its own (so another thread's handles do not fit).
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Tensor, memory, ones, tensor, zeros } from '../lib';
import { N } from '../lib/native';
import { ensureCompiled, ROOT } from './helpers/compiled';

const handleOf = (t: Tensor) => (t as unknown as { _h: number })._h;
/** A Tensor object built around any number, the way an attacker would without the constructor. */
const forge = (h: number): Tensor =>
  Object.assign(Object.create(Tensor.prototype) as Tensor, { _h: h, _kept: false, _registered: false });

describe('tensor handles', () => {
  it('new Tensor(h) is refused, for a live handle, NaN or anything else', () => {
    const live = tensor([1, 2, 3]);
    const Ctor = Tensor as unknown as new (...args: unknown[]) => Tensor;
    for (const args of [[handleOf(live)], [NaN], [0], [handleOf(live), Symbol('Tensor construction')]]) {
      expect(() => new Ctor(...args)).toThrow(/Tensor cannot be constructed from a handle/);
    }
    expect(live.toArray()).toEqual([1, 2, 3]);
    // Handles stay small integers, which V8 passes without allocating (what keeps the per-op cost as it was).
    expect(handleOf(live)).toBeGreaterThan(0);
    expect(handleOf(live)).toBeLessThan(2 ** 31);
    live.dispose();
  });

  it('NaN, 0, negative, fractional and huge numbers are not handles: dispose ignores them, ops refuse them clearly', () => {
    const a = tensor([7, 8]);
    const before = memory().numTensors;
    for (const h of [NaN, 0, -0, -1, -5, 0.5, 1, 2 ** 53, Infinity, -Infinity]) {
      N.dispose(h);
      expect(N.isValid(h)).toBe(false);
    }
    N.disposeMany([NaN, 0, 1, 2, 3]);
    expect(memory().numTensors).toBe(before);
    expect(a.toArray()).toEqual([7, 8]);
    expect(() => forge(0).toArray()).toThrow(/argument 1 is not a tensor handle/);
    expect(() => forge(NaN).add(a)).toThrow(/not a tensor handle/);
    a.dispose();
  });

  it('a stale handle (its slot reused by a newer tensor) is refused, and disposing it again frees nothing', () => {
    const old = zeros([2]);
    const stale = handleOf(old);
    const slots = N.memory().tableSize;
    old.dispose();
    const fresh = ones([3]); // takes the freed slot: the table does not grow
    expect(N.memory().tableSize).toBe(slots);
    expect(handleOf(fresh)).not.toBe(stale);
    expect(() => forge(stale).toArray()).toThrow(
      /argument 1 is not a live tensor of this thread \(it has been disposed/,
    );
    N.dispose(stale);
    expect(fresh.toArray()).toEqual([1, 1, 1]);
    expect(() => fresh.add(forge(stale))).toThrow(/argument 2 is not a live tensor of this thread/);
    fresh.dispose();
  });

  it("another thread's handle is refused in this one, and cannot free this thread's tensors", async () => {
    ensureCompiled(path.join(ROOT, 'dist', 'lib', 'creation.js'));
    const mine = Array.from({ length: 8 }, (_, i) => tensor([i]));
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads');
      const { tensor } = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'creation.js'))});
      const theirs = Array.from({ length: 8 }, (_, i) => tensor([100 + i]));
      parentPort.postMessage(theirs.map((t) => t._h));
      parentPort.once('message', () => parentPort.postMessage(theirs.map((t) => t.toArray()[0])));
    `,
      { eval: true },
    );
    try {
      const foreign: number[] = await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      for (const h of foreign) {
        expect(N.isValid(h)).toBe(false);
        expect(() => forge(h).toArray()).toThrow(
          /argument 1 is not a live tensor of this thread \(.*made in another thread/,
        );
        N.dispose(h);
      }
      expect(mine.map((t) => t.toArray()[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      // The worker's tensors were not touched either.
      const values = await new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage('read');
      });
      expect(values).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    } finally {
      await worker.terminate();
      mine.forEach((t) => t.dispose());
    }
  }, 120_000);
});
