/** Seeded shuffling and splitting, so that a seed names one exact split on every machine. */
import type { TextDataset, TextExample } from './dataset';

/** A function returning uniform floats in [0, 1). */
export type Random = () => number;

/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit state advanced by a Weyl sequence and mixed with two
 * multiply-xorshift rounds. Period 2^32, passes gjrand's tests; ample for shuffling data, not for cryptography.
 * Math.random cannot be seeded, hence this.
 */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of a copy, drawing from `random`. */
export function shuffleWith<T>(items: readonly T[], random: Random): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A shuffled copy; the same seed always gives the same order. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  return shuffleWith(items, mulberry32(seed));
}

export interface SplitOptions {
  /** A count (an integer >= 1) or a fraction of all examples (0 <= x < 1). */
  validation: number;
  /** A count (an integer >= 1) or a fraction of all examples (0 <= x < 1). */
  test: number;
  seed: number;
}

export interface Splits<T> {
  train: T[];
  validation: T[];
  test: T[];
}

/** Shuffles with the seed, then cuts [train | validation | test] in that order; train takes what is left. */
export function trainValidationTestSplit<T>(
  examples: readonly T[],
  { validation, test, seed }: SplitOptions,
): Splits<T> {
  const validationCount = splitCount(validation, examples.length, 'validation');
  const testCount = splitCount(test, examples.length, 'test');
  const trainCount = examples.length - validationCount - testCount;
  if (trainCount < 0) {
    throw new Error(
      `split: validation (${validationCount}) + test (${testCount}) exceed the ${examples.length} examples`,
    );
  }
  const shuffled = shuffle(examples, seed);
  return {
    train: shuffled.slice(0, trainCount),
    validation: shuffled.slice(trainCount, trainCount + validationCount),
    test: shuffled.slice(trainCount + validationCount),
  };
}

function splitCount(size: number, total: number, what: string): number {
  if (size >= 0 && size < 1) return Math.round(size * total);
  if (Number.isInteger(size) && size >= 1) return size;
  throw new Error(`split: ${what} must be a fraction in [0, 1) or a whole count, got ${size}`);
}

/**
 * Sebastian Raschka's IMDb layout for his DistilBERT/LoRA fine-tuning experiments: the 50,000 labelled reviews
 * pooled, shuffled, then the first 35,000 for training, the next 5,000 for validation and the last 10,000 for
 * testing. The shuffle is ours (mulberry32), not NumPy's, so which review lands where differs from his files;
 * the sizes, the pooling and the slicing order are the same.
 */
export function raschkaImdbSplit(imdb: TextDataset, seed: number): TextDataset {
  const pooled = [...imdb.train, ...(imdb.test ?? [])];
  if (pooled.length !== 50_000)
    throw new Error(`raschkaImdbSplit: expected the 50,000 IMDb reviews, got ${pooled.length}`);
  const { train, validation, test } = trainValidationTestSplit(pooled, { validation: 5_000, test: 10_000, seed });
  return { name: 'imdb-raschka', labels: imdb.labels, train, validation, test };
}

/**
 * n examples drawn with the seed, as evenly across classes as their sizes allow (a class smaller than its share
 * gives all it has and the others make up the difference), returned in shuffled order.
 */
export function subsample(examples: readonly TextExample[], n: number, seed: number): TextExample[] {
  const random = mulberry32(seed);
  const classes = groupByLabel(examples).map((group) => shuffleWith(group, random));
  // Smallest classes first, so the share left for the larger ones grows when a small class runs out.
  classes.sort((a, b) => a.length - b.length || a[0].label - b[0].label);
  const picked: TextExample[] = [];
  let remaining = Math.min(n, examples.length);
  classes.forEach((group, i) => {
    const take = Math.min(group.length, Math.ceil(remaining / (classes.length - i)));
    picked.push(...group.slice(0, take));
    remaining -= take;
  });
  return shuffleWith(picked, random);
}

function groupByLabel(examples: readonly TextExample[]): TextExample[][] {
  const groups = new Map<number, TextExample[]>();
  for (const example of examples) {
    const group = groups.get(example.label);
    if (group) group.push(example);
    else groups.set(example.label, [example]);
  }
  return [...groups.keys()].sort((a, b) => a - b).map((label) => groups.get(label)!);
}
