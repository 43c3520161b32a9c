// How a data-parallel run splits its work: the same global batch order on every rank, dealt out round-robin, and
// sums (loss, confusion counts) added up over ranks so every rank reports the same metrics.
import { tensor } from '../creation';
import { allReduce, getRank, getWorldSize, isInitialized } from './process-group';

/** The rank and world size of the default group; 0 and 1 without one. */
export function placement(): { rank: number; worldSize: number } {
  return isInitialized() ? { rank: getRank(), worldSize: getWorldSize() } : { rank: 0, worldSize: 1 };
}

/**
 * Rank `rank`'s share of `items`: every worldSize-th item from its rank on, after padding the list with its own
 * head to a multiple of worldSize (DistributedSampler's rule), so that every rank gets the same number and no rank
 * waits in a collective for a batch another rank never has.
 */
export function shardPadded<T>(items: readonly T[], rank: number, worldSize: number): T[] {
  if (worldSize === 1 || items.length === 0) return [...items];
  const total = Math.ceil(items.length / worldSize) * worldSize;
  const out: T[] = [];
  for (let i = rank; i < total; i += worldSize) out.push(items[i % items.length]);
  return out;
}

/** Every worldSize-th index from `rank` on, without padding (evaluation counts each example once). */
export function shardIndices(n: number, rank: number, worldSize: number): number[] {
  const out: number[] = [];
  for (let i = rank; i < n; i += worldSize) out.push(i);
  return out;
}

/** Adds `values` up over all ranks (float64, so counts and loss sums stay exact to 2^53). */
export async function sumOverRanks(values: number[]): Promise<number[]> {
  const t = tensor(values, { dtype: 'float64' });
  try {
    await allReduce(t, 'sum');
    return Array.from(t.dataSync() as Float64Array);
  } finally {
    t.dispose();
  }
}
