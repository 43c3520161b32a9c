/**
 * GLUE-style tab-separated files: a header row naming the columns, one example per line, no quoting
 * (GLUE's TSVs contain bare double quotes inside sentences, so they must not be read as CSV).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  encodeLabels,
  findColumn,
  type ColumnOptions,
  type LabeledExamples,
  type RawExample,
  type TextDataset,
} from './dataset';

export const SST2_LABELS = ['negative', 'positive'];

/** Reads a headed TSV; the columns default to GLUE's single-sentence names, `sentence` and `label`. */
export function loadTsv(
  path: string,
  { textColumn = 'sentence', labelColumn = 'label', labels }: ColumnOptions = {},
): LabeledExamples {
  const lines = readFileSync(path, 'utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/);
  const header = lines[0].split('\t');
  const textIndex = findColumn(header, textColumn, `${path}:1`);
  const labelIndex = findColumn(header, labelColumn, `${path}:1`);
  const rows: RawExample[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === '') continue;
    const fields = lines[i].split('\t');
    const line = i + 1;
    const text = fields[textIndex];
    const label = fields[labelIndex];
    if (text === undefined) throw new Error(`${path}:${line}: missing column '${textColumn}'`);
    if (!label) throw new Error(`${path}:${line}: missing or empty label column '${labelColumn}'`);
    rows.push({ text, label, line });
  }
  return encodeLabels(rows, path, labels);
}

/**
 * SST-2 from a folder holding GLUE's train.tsv and dev.tsv (which becomes the validation split), and test.tsv
 * when it carries labels: GLUE's official test.tsv has an index column instead and is left out.
 */
export function loadSst2(dir: string): TextDataset {
  const dataset: TextDataset = {
    name: 'sst2',
    labels: SST2_LABELS,
    train: loadTsv(join(dir, 'train.tsv')).examples,
    validation: loadTsv(join(dir, 'dev.tsv')).examples,
  };
  const testPath = join(dir, 'test.tsv');
  if (existsSync(testPath) && tsvHeader(testPath).includes('label')) dataset.test = loadTsv(testPath).examples;
  return dataset;
}

function tsvHeader(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const end = text.indexOf('\n');
  return text
    .slice(0, end < 0 ? text.length : end)
    .replace(/\r$/, '')
    .split('\t');
}
