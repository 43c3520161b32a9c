/**
 * Batches of example indices. Padding a batch to its longest sequence wastes compute on the padding, so training
 * batches group examples of similar token length while staying random enough for SGD.
 */
import { mulberry32, shuffleWith } from './split';

export interface BucketOptions {
  batchSize: number;
  /** Vary per epoch (e.g. seed + epoch) for a fresh order each epoch. */
  seed: number;
  /** How many batches' worth of examples are sorted together; larger = less padding, less randomness. */
  chunkBatches?: number;
  /** Drop the final short batch. */
  dropLast?: boolean;
}

/**
 * Shuffles the indices, sorts each chunk of `chunkBatches * batchSize` of them by length, cuts the chunks into
 * batches and shuffles the order of the batches. Every index appears exactly once (unless dropLast drops the
 * short batch), and the result depends only on the lengths and the options.
 */
export function lengthBucketedBatches(lengths: readonly number[], options: BucketOptions): number[][] {
  const { batchSize, seed, chunkBatches = 50, dropLast = false } = options;
  assertBatchSize(batchSize);
  const random = mulberry32(seed);
  const order = shuffleWith(indices(lengths.length), random);
  const chunkSize = batchSize * chunkBatches;
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += chunkSize) {
    // Array.prototype.sort is stable, so equal lengths keep their shuffled order.
    const chunk = order.slice(start, start + chunkSize).sort((a, b) => lengths[a] - lengths[b]);
    batches.push(...cut(chunk, batchSize));
  }
  const kept = dropLast ? batches.filter((batch) => batch.length === batchSize) : batches;
  return shuffleWith(kept, random);
}

/** Batches 0..count-1 in order, for evaluation. */
export function sequentialBatches(count: number, batchSize: number): number[][] {
  assertBatchSize(batchSize);
  return cut(indices(count), batchSize);
}

function cut(items: number[], batchSize: number): number[][] {
  const batches: number[][] = [];
  for (let start = 0; start < items.length; start += batchSize) batches.push(items.slice(start, start + batchSize));
  return batches;
}

function indices(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

function assertBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
}
