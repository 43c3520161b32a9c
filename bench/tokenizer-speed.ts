/**
 * Tokenizer throughput on IMDb's 25,000 training reviews, read straight from the .tar.gz:
 * encodeBatch with maxLength 256 and truncation, in batches of 32, as a training loop would call it.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/tokenizer-speed.js [aclImdb_v1.tar.gz] [model folder]
 *
 * The first pass starts with an empty word cache; the second shows the steady state of a training run.
 */
import * as path from 'node:path';

import { readTar } from '../lib/data/tar';
import { BertTokenizer } from '../lib/tokenizer';
import { repoRoot } from './repo-root';

const BATCH_SIZE = 32;
const MAX_LENGTH = 256;
const TRAIN_REVIEW = /^aclImdb\/train\/(pos|neg)\/\d+_\d+\.txt$/;

async function readTrainReviews(archive: string): Promise<string[]> {
  const reviews: string[] = [];
  for await (const entry of readTar(archive, { filter: ({ name }) => TRAIN_REVIEW.test(name) })) {
    reviews.push(entry.data.toString('utf8'));
  }
  return reviews;
}

/** Returns reviews per second and the number of real (unpadded) tokens produced. */
function timeEncoding(tokenizer: BertTokenizer, reviews: string[]): { perSecond: number; tokens: number } {
  let tokens = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < reviews.length; i += BATCH_SIZE) {
    const batch = tokenizer.encodeBatch(reviews.slice(i, i + BATCH_SIZE), { maxLength: MAX_LENGTH, truncation: true });
    for (const mask of batch.attentionMask) tokens += mask.reduce((sum, bit) => sum + bit, 0);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { perSecond: reviews.length / seconds, tokens };
}

async function main(): Promise<void> {
  const shared = path.resolve(repoRoot(), '..', 'shared');
  const archive = process.argv[2] ?? path.join(shared, 'data', 'aclImdb_v1.tar.gz');
  const modelDir = process.argv[3] ?? path.join(shared, 'models', 'distilbert-base-uncased');

  const readStart = Date.now();
  const reviews = await readTrainReviews(archive);
  console.log(
    `read ${reviews.length} train reviews from ${archive} in ${((Date.now() - readStart) / 1000).toFixed(1)} s`,
  );

  const tokenizer = BertTokenizer.fromPretrained(modelDir);
  for (const pass of ['cold word cache', 'warm word cache']) {
    const { perSecond, tokens } = timeEncoding(tokenizer, reviews);
    console.log(
      `encodeBatch maxLength ${MAX_LENGTH}, batches of ${BATCH_SIZE} (${pass}): ` +
        `${Math.round(perSecond)} reviews/s, ${tokens} tokens`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
