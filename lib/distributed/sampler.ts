// DistributedSampler with PyTorch's semantics: every rank draws the same permutation (seed + epoch), pads it by
// repeating its head (or drops the tail) to a multiple of the world size, and takes every worldSize-th index from
// its rank on. Call setEpoch(e) before each epoch to reshuffle.
import { N } from '../native';
import { wrap } from '../tensor';
import { intSetting } from './env';
import { getRank, getWorldSize, isInitialized } from './process-group';

export interface DistributedSamplerOptions {
  /** Default: the default group's world size (1 without one). */
  numReplicas?: number;
  /** Default: the default group's rank (0 without one). */
  rank?: number;
  shuffle?: boolean;
  seed?: number;
  /** Drop the tail instead of padding so that every rank gets the same number of distinct samples. */
  dropLast?: boolean;
}

/** torch.randperm(n, generator=torch.Generator().manual_seed(seed)), leaving the global generator alone. */
export function seededPermutation(n: number, seed: number): number[] {
  const t = wrap(N.seededRandperm(n, seed));
  try {
    return Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);
  } finally {
    t.dispose();
  }
}

export class DistributedSampler implements Iterable<number> {
  readonly numReplicas: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Indices per rank and epoch. */
  readonly numSamples: number;
  readonly totalSize: number;
  private epoch = 0;

  constructor(
    readonly datasetSize: number,
    opts: DistributedSamplerOptions = {},
  ) {
    intSetting('datasetSize', datasetSize, 0, 2 ** 40);
    const grouped = isInitialized();
    this.numReplicas = intSetting('numReplicas', opts.numReplicas, 1) ?? (grouped ? getWorldSize() : 1);
    this.rank = intSetting('rank', opts.rank) ?? (grouped ? getRank() : 0);
    if (this.rank >= this.numReplicas)
      throw new Error(`rank ${this.rank} must be below numReplicas ${this.numReplicas}`);
    this.shuffle = opts.shuffle ?? true;
    this.seed = intSetting('seed', opts.seed ?? 0, 0, Number.MAX_SAFE_INTEGER)!;
    this.dropLast = opts.dropLast ?? false;
    this.numSamples =
      this.dropLast && datasetSize % this.numReplicas !== 0
        ? Math.ceil((datasetSize - this.numReplicas) / this.numReplicas)
        : Math.ceil(datasetSize / this.numReplicas);
    this.totalSize = this.numSamples * this.numReplicas;
  }

  setEpoch(epoch: number): void {
    this.epoch = intSetting('epoch', epoch, 0, Number.MAX_SAFE_INTEGER)!;
  }

  /** This rank's indices for the current epoch. */
  indices(): number[] {
    const n = this.datasetSize;
    let all = this.shuffle ? seededPermutation(n, this.seed + this.epoch) : [...Array(n).keys()];
    if (!this.dropLast) {
      const pad = this.totalSize - all.length;
      if (pad > 0 && all.length > 0) {
        const repeated: number[] = [];
        while (repeated.length < pad) repeated.push(...all);
        all = all.concat(repeated.slice(0, pad));
      }
    } else {
      all = all.slice(0, this.totalSize);
    }
    const mine: number[] = [];
    for (let i = this.rank; i < this.totalSize && i < all.length; i += this.numReplicas) mine.push(all[i]);
    return mine;
  }

  get length(): number {
    return this.numSamples;
  }

  [Symbol.iterator](): Iterator<number> {
    return this.indices()[Symbol.iterator]();
  }
}
