// DistributedDataParallel over Gloo, 2 processes: each rank on half of the batch for 5 AdamW steps ends with the
// same parameters on both ranks, equal to one process on the whole batch (1e-6 in float32, 1e-9 in float64), for
// LoRA and full fine-tuning, with and without noSync() gradient accumulation.
import * as fs from 'node:fs';
import type { RankOutcome } from '../helpers/ranks';
import { runRanks, transpiledLib } from '../helpers/ranks';

let libDir = '';
beforeAll(() => {
  libDir = transpiledLib();
});
afterAll(() => fs.rmSync(libDir, { recursive: true, force: true }));

interface TrainResult {
  params: Record<string, number[]>;
  firstGrads: Record<string, number[]>;
  stats?: {
    buckets: number;
    bytesPerSync: number;
    syncs: number;
    waitMs: number;
    bucketsLaunchedDuringBackward: number;
  };
  unusedError?: string | null;
}

function ok(o: RankOutcome): TrainResult {
  if (o.code !== 0) throw new Error(`rank ${o.rank} exited ${o.code}: ${o.error}\n${o.stderr.slice(-2000)}`);
  return o.result as TrainResult;
}

function maxDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  let m = 0;
  for (const k of Object.keys(a)) a[k].forEach((v, i) => (m = Math.max(m, Math.abs(v - b[k][i]))));
  return m;
}

const cases: [string, string, boolean, number][] = [
  ['lora', 'float32', false, 1e-6],
  ['lora', 'float64', false, 1e-9],
  ['full', 'float32', false, 1e-6],
  ['full', 'float64', false, 1e-9],
  ['lora', 'float32', true, 1e-6],
  ['full', 'float64', true, 1e-9],
];

test.each(cases)(
  '%s fine-tuning in %s (noSync accumulation: %s): 2 ranks on half batches == 1 process on the batch',
  async (mode, dtype, accumulate, tol) => {
    const args = { mode, dtype, accumulate };
    const [single] = await runRanks(libDir, 'ddpTrain', 1, { args: { ...args, distributed: false } });
    const [r0, r1] = (await runRanks(libDir, 'ddpTrain', 2, { args })).map(ok);
    const one = ok(single);
    expect(maxDiff(r0.params, r1.params)).toBe(0); // the same bits on both ranks
    expect(maxDiff(r0.params, one.params)).toBeLessThan(tol);
    expect(maxDiff(r0.firstGrads, one.firstGrads)).toBeLessThan(tol / 10); // averaged, not summed
    expect(maxDiff(r1.firstGrads, one.firstGrads)).toBeLessThan(tol / 10);
    // The parameters moved: the comparison is not between two untouched initialisations.
    expect(
      Object.values(one.params)
        .flat()
        .some((v) => Math.abs(v) > 0),
    ).toBe(true);
    // One synchronisation per optimizer step (noSync backward passes do not communicate).
    expect(r0.stats!.syncs).toBe(5);
    const trainable = Object.values(one.params).reduce((n, v) => n + v.length, 0);
    expect(r0.stats!.bytesPerSync).toBe(trainable * (dtype === 'float64' ? 8 : 4)); // frozen parameters cost nothing
    expect(r0.stats!.buckets).toBeGreaterThan(1);
    // Overlap: in every synchronised backward all buckets but those holding the first layers' gradients went out
    // while backward was still computing earlier layers.
    expect(r0.stats!.bucketsLaunchedDuringBackward).toBeGreaterThanOrEqual(5 * (r0.stats!.buckets - 1));
    for (const r of [r0, r1]) {
      expect(r.unusedError).toMatch(/received no gradient in this backward pass: .*findUnusedParameters: true/);
    }
  },
  120000,
);
