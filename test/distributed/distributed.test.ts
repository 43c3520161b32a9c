// Process groups on libtorch's c10d with Gloo, two processes on 127.0.0.1: every collective against its
// definition (uneven shapes, bfloat16 and float64 included), clear errors, and timeouts when a rank never arrives.
import * as fs from 'node:fs';
import type { RankOutcome } from '../helpers/ranks';
import { runRanks, transpiledLib } from '../helpers/ranks';

let libDir = '';
beforeAll(() => {
  libDir = transpiledLib();
});
afterAll(() => fs.rmSync(libDir, { recursive: true, force: true }));

const WORLD = 2;
const ranks = [0, 1];
const base = (r: number) => [1.5, -2, 3, r + 0.25, 10 * r, -r + 0]; // + 0: JSON has no -0
const reduce = (op: string, rows: number[][]) =>
  rows[0].map((_, i) => {
    const col = rows.map((row) => row[i]);
    if (op === 'sum') return col.reduce((a, b) => a + b, 0);
    if (op === 'avg') return col.reduce((a, b) => a + b, 0) / col.length;
    if (op === 'max') return Math.max(...col);
    return Math.min(...col);
  });
// bfloat16 keeps 8 significant bits: round to nearest even, as PyTorch does.
const bf16 = (x: number) => {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = (u[0] + 0x7fff + ((u[0] >> 16) & 1)) & 0xffff0000;
  return f[0];
};

describe('collectives over Gloo, 2 processes', () => {
  let outs: RankOutcome[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each scenario returns its own JSON
  let results: Record<string, any>[];
  beforeAll(async () => {
    outs = await runRanks(libDir, 'collectives', WORLD);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    results = outs.map((o) => o.result as Record<string, any>);
  }, 90000);

  test('both ranks finish cleanly and know their place', () => {
    for (const o of outs)
      expect({ rank: o.rank, code: o.code, error: o.error }).toEqual({ rank: o.rank, code: 0, error: undefined });
    expect(results.map((r) => [r.rank, r.world])).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(results.map((r) => [r.destroyed, r.initializedAfter])).toEqual([
      [true, false],
      [true, false],
    ]);
  });

  test.each(['sum', 'avg', 'max', 'min'])('allReduce %s in place, float32, float64 and bfloat16', (op) => {
    const want = reduce(op, ranks.map(base));
    for (const r of results) {
      const f32 = r[`allReduce-${op}-float32`],
        f64 = r[`allReduce-${op}-float64`],
        b16 = r[`allReduce-${op}-bfloat16`];
      expect(f32.same).toBe(true);
      expect(f32.shape).toEqual([2, 3]);
      expect(f32.dtype).toBe('float32');
      f32.values.forEach((v: number, i: number) => expect(v).toBeCloseTo(Math.fround(want[i]), 6));
      expect(f64.values).toEqual(want);
      expect(b16.dtype).toBe('bfloat16');
      const wantBf =
        op === 'avg'
          ? reduce(
              'sum',
              ranks.map((k) => base(k).map(bf16)),
            ).map((s) => bf16(bf16(s) / WORLD))
          : reduce(
              op,
              ranks.map((k) => base(k).map(bf16)),
            ).map(bf16);
      expect(b16.values).toEqual(wantBf);
    }
  });

  test('allReduce product on int64, and on a non-contiguous view', () => {
    for (const r of results) {
      expect(r['allReduce-product-int64']).toEqual([1 * 2, 49, 0]);
      // m = arange(6).reshape(2,3) + rank; the transposed view is summed in place: 2 * arange(6) + 1.
      expect(r['allReduce-view']).toEqual([1, 3, 5, 7, 9, 11]);
    }
  });

  test("broadcast copies the source rank's values (float64 from rank 1, bfloat16 from rank 0)", () => {
    for (const r of results) {
      expect(r.broadcast).toEqual([1, 2, 3, 1.25]);
      expect(r['broadcast-bf16']).toEqual({ values: [0.5, 0], dtype: 'bfloat16' });
    }
  });

  test('allGather with uneven shapes, even shapes and 0-d tensors', () => {
    const rankTensor = (k: number) => Array.from({ length: (k + 1) * 3 }, (_, i) => i * (k + 1));
    for (const r of results) {
      expect(r['allGather-uneven']).toEqual(
        ranks.map((k) => ({ shape: [k + 1, 3], values: rankTensor(k), dtype: 'float32' })),
      );
      expect(r['allGather-even']).toEqual(ranks.map((k) => ({ shape: [2], values: [k, 100 + k], dtype: 'int64' })));
      expect(r['allGather-scalar']).toEqual(ranks.map((k) => ({ shape: [], values: [k * 1.5] })));
    }
  });

  test("reduceScatter: rank r gets the reduction of every rank's inputs[r] (uneven sizes, tensor form, avg in bf16)", () => {
    results.forEach((r, rank) => {
      const want = Array.from({ length: rank + 2 }, (_, j) => ranks.reduce((s, k) => s + j + 10 * k + rank, 0));
      expect(r['reduceScatter-uneven']).toEqual({ shape: [rank + 2], values: want });
      // stacked = arange(4).reshape(2,2) * (k+1): the max over ranks is rank 1's row.
      expect(r['reduceScatter-tensor-max']).toEqual({ shape: [1, 2], values: [2 * (2 * rank), 2 * (2 * rank + 1)] });
      const avg = rank === 0 ? [(0 + 1) / 2, 1] : [(0 + 2) / 2, 3];
      expect(r['reduceScatter-avg-bf16']).toEqual({ values: avg, dtype: 'bfloat16' });
    });
  });

  test('collectives issued together complete in call order', () => {
    for (const r of results) expect(r.concurrent).toEqual([1, 3, 5, 7, 9]);
  });

  test('bad arguments are clear errors, not hangs', () => {
    for (const r of results) {
      expect(r.errors.badOp).toMatch(/op must be 'sum', 'avg', 'max', 'min' or 'product', got 'mean'/);
      expect(r.errors.badSrc).toMatch(/src must be a rank in 0\.\.1, got 2/);
      expect(r.errors.avgInt).toMatch(/'avg' needs a floating-point tensor/);
      expect(r.errors.reduceScatterCount).toMatch(/one input per rank \(2\), got 1/);
      expect(r.errors.nccl).toMatch(/already initialized|nccl backend is not available/);
      expect(r.errors.again).toMatch(/already initialized/);
    }
  });
});

describe('timeouts', () => {
  test('the rendezvous fails within the timeout when a rank never arrives', async () => {
    const [r0] = await runRanks(libDir, 'rendezvousTimeout', 2, { ranks: [0], args: { timeoutMs: 2000 } });
    const res = r0.result as { error: string; elapsedMs: number };
    expect(r0.code).toBe(0);
    expect(res.error).toBeTruthy();
    expect(res.error).toMatch(
      /^initProcessGroup: the Gloo rendezvous \(every rank connecting to every other\) for rank 0 of 2 at 127\.0\.0\.1:\d+ did not complete within 2000 ms: /,
    );
    expect(res.elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(res.elapsedMs).toBeLessThan(8000);
  }, 30000);

  test('a rank whose store never answers fails within the timeout', async () => {
    const [r1] = await runRanks(libDir, 'rendezvousTimeout', 2, { ranks: [1], args: { timeoutMs: 2000 } });
    const res = r1.result as { error: string; elapsedMs: number };
    expect(res.error).toMatch(
      /^initProcessGroup: the TCPStore connection for rank 1 of 2 at 127\.0\.0\.1:\d+ did not complete within 2000 ms: /,
    );
    expect(res.elapsedMs).toBeLessThan(15000);
  }, 30000);

  test('a collective fails within the timeout when the other rank never calls it, and the event loop runs meanwhile', async () => {
    const outs = await runRanks(libDir, 'collectiveTimeout', 2, { args: { timeoutMs: 2000, holdMs: 8000 } });
    const r0 = outs[0].result as { error: string; elapsedMs: number; ticks: number };
    expect(outs[0].code).toBe(0);
    expect(r0.error).toMatch(/^allReduce: .*(Timed out|timeout|timed out)/i);
    expect(r0.elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(r0.elapsedMs).toBeLessThan(7000);
    expect(r0.ticks).toBeGreaterThan(10);
  }, 30000);
});
