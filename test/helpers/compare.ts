import type { Tensor } from '../../lib';

/** Largest absolute difference between a tensor and expected values (nested arrays or flat). */
export function maxAbsDiff(t: Tensor, expected: unknown): number {
  const got = Array.from(t.double().dataSync() as Float64Array);
  const want = (expected as unknown[]).flat(Infinity as 1) as number[];
  if (got.length !== want.length) throw new Error(`length ${got.length} != expected ${want.length}`);
  return got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
}
