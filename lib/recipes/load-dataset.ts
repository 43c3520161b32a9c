// One entry point for the dataset formats the CLI accepts, with the seeded splits Raschka used for IMDb.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TextDataset, TextExample } from '../data/dataset';
import { loadImdb } from '../data/imdb';
import { loadSst2, loadTsv } from '../data/glue';
import { loadCsv, loadJsonl } from '../data/tabular';
import { raschkaImdbSplit, subsample, trainValidationTestSplit } from '../data/split';

export interface DatasetOptions {
  textColumn?: string;
  labelColumn?: string;
  seed?: number;
  /** Keep at most this many examples per split (class-balanced, seeded); the full split when omitted. */
  trainSize?: number;
  validationSize?: number;
  testSize?: number;
}

/**
 * - the IMDb archive (.tar.gz) or its extracted folder: Raschka's 35k/5k/10k split of all 50k reviews;
 * - a GLUE SST-2 folder (train.tsv, dev.tsv[, test.tsv]);
 * - a .csv, .jsonl or .tsv file with text and label columns: a seeded 80/10/10 split.
 */
export async function loadTextDataset(
  source: string,
  opts: DatasetOptions = {},
): Promise<
  Required<Pick<TextDataset, 'name' | 'labels' | 'train'>> & { validation: TextExample[]; test: TextExample[] }
> {
  const seed = opts.seed ?? 42;
  let ds: TextDataset;
  if (isImdb(source)) ds = raschkaImdbSplit(await loadImdb(source), seed);
  else if (fs.existsSync(path.join(source, 'train.tsv'))) ds = loadSst2(source);
  else if (/\.(csv|jsonl|tsv)$/i.test(source)) {
    const cols = { textColumn: opts.textColumn, labelColumn: opts.labelColumn };
    const file = source.endsWith('.csv')
      ? loadCsv(source, cols)
      : source.endsWith('.jsonl')
        ? loadJsonl(source, cols)
        : loadTsv(source, cols);
    const splits = trainValidationTestSplit(file.examples, { validation: 0.1, test: 0.1, seed });
    ds = { name: path.basename(source), labels: file.labels, ...splits };
  } else {
    throw new Error(
      `${source}: not a dataset I know; give the IMDb .tar.gz or aclImdb folder, an SST-2 folder, or a .csv/.jsonl/.tsv file`,
    );
  }
  // SST-2's labelled test split may be absent: carve one out of train then.
  let { train, validation = [], test = [] } = ds;
  if (test.length === 0)
    ({ train, test } = {
      ...trainValidationTestSplit(train, { validation: 0, test: Math.max(1, validation.length), seed }),
    });
  const cut = (ex: TextExample[], n?: number, s = seed) =>
    n !== undefined && n < ex.length ? subsample(ex, n, s) : ex;
  return {
    name: ds.name,
    labels: ds.labels,
    train: cut(train, opts.trainSize),
    validation: cut(validation, opts.validationSize, seed + 1),
    test: cut(test, opts.testSize, seed + 2),
  };
}

function isImdb(source: string): boolean {
  if (/\.tar(\.gz)?$|\.tgz$/.test(source)) return true;
  return fs.existsSync(path.join(source, 'train', 'pos')) || fs.existsSync(path.join(source, 'aclImdb'));
}

/** The name loadTextDataset gives the dataset at `source` ('imdb', 'sst2' or the file's name), without reading it. */
export function datasetName(source: string): string {
  if (isImdb(source)) return 'imdb';
  if (fs.existsSync(path.join(source, 'train.tsv'))) return 'sst2';
  return path.basename(source);
}
