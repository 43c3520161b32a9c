/**
 * The Large Movie Review Dataset (Maas et al., 2011): aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { TextDataset, TextExample } from './dataset';
import { readTar } from './tar';

export const IMDB_LABELS = ['neg', 'pos'];

const SPLITS = ['train', 'test'] as const;
type Split = (typeof SPLITS)[number];

/** A review file's place in the dataset, parsed from its path. */
interface ReviewFile {
  split: Split;
  label: number;
  id: number;
}

const REVIEW_PATH = /(?:^|\/)(train|test)\/(pos|neg)\/(\d+)_\d+\.txt$/;

/**
 * Loads IMDb from the .tar.gz (or .tar), the extracted `aclImdb` folder, or the folder that contains it.
 * Label 1 = pos, 0 = neg. Each split is ordered by label, then by the numeric id in the file name, so the
 * order does not depend on the archive or the file system.
 */
export async function loadImdb(pathOrArchive: string): Promise<TextDataset> {
  const reviews = statSync(pathOrArchive).isDirectory()
    ? readImdbFolder(findImdbRoot(pathOrArchive))
    : await readImdbArchive(pathOrArchive);
  const dataset = {
    name: 'imdb',
    labels: IMDB_LABELS,
    train: sortedSplit(reviews, 'train'),
    test: sortedSplit(reviews, 'test'),
  };
  for (const split of SPLITS) {
    if (dataset[split].length === 0) throw new Error(`imdb: no ${split} reviews found in ${pathOrArchive}`);
  }
  return dataset;
}

/**
 * The reviews mark line breaks with the HTML tag `<br />`. Each tag becomes one space: the tokenizer would
 * otherwise split it into the word pieces "<", "br", "/", ">", which carry nothing about sentiment.
 */
export function cleanImdbText(raw: string): string {
  return raw.replace(/<br\s*\/?>/gi, ' ');
}

interface Review extends ReviewFile {
  text: string;
}

function parseReviewPath(path: string): ReviewFile | null {
  const match = REVIEW_PATH.exec(path);
  if (!match) return null;
  return { split: match[1] as Split, label: match[2] === 'pos' ? 1 : 0, id: Number(match[3]) };
}

async function readImdbArchive(archive: string): Promise<Review[]> {
  const reviews: Review[] = [];
  const filter = ({ name }: { name: string }) => REVIEW_PATH.test(name);
  for await (const entry of readTar(archive, { filter })) {
    reviews.push({ ...parseReviewPath(entry.name)!, text: cleanImdbText(entry.data.toString('utf8')) });
  }
  return reviews;
}

/** Accepts the aclImdb folder itself or its parent. */
function findImdbRoot(dir: string): string {
  const nested = join(dir, 'aclImdb');
  if (existsSync(join(nested, 'train'))) return nested;
  if (existsSync(join(dir, 'train'))) return dir;
  throw new Error(`imdb: ${dir} holds neither aclImdb/ nor train/ and test/ folders`);
}

function readImdbFolder(root: string): Review[] {
  const reviews: Review[] = [];
  for (const split of SPLITS) {
    for (const labelName of IMDB_LABELS) {
      const dir = join(root, split, labelName);
      if (!existsSync(dir)) throw new Error(`imdb: missing folder ${dir}`);
      for (const file of readdirSync(dir)) {
        const review = parseReviewPath(`${split}/${labelName}/${file}`);
        if (review) reviews.push({ ...review, text: cleanImdbText(readFileSync(join(dir, file), 'utf8')) });
      }
    }
  }
  return reviews;
}

function sortedSplit(reviews: Review[], split: Split): TextExample[] {
  return reviews
    .filter((review) => review.split === split)
    .sort((a, b) => a.label - b.label || a.id - b.id)
    .map(({ text, label }) => ({ text, label }));
}
