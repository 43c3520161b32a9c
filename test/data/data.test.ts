import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import {
  TarParser,
  lengthBucketedBatches,
  loadCsv,
  loadImdb,
  loadJsonl,
  loadSst2,
  loadTsv,
  parseCsv,
  raschkaImdbSplit,
  readTarEntries,
  sequentialBatches,
  shuffle,
  subsample,
  trainValidationTestSplit,
  type TarEntry,
  type TextDataset,
  type TextExample,
} from '../../lib/data';
import { gnuLongNameEntry, paxEntry, tarArchive, tarEntry } from '../helpers/tar-writer';

const SHARED = join(__dirname, '..', '..', '..', 'shared', 'data');
const IMDB_ARCHIVE = join(SHARED, 'aclImdb_v1.tar.gz');
const SST2_DIR = join(SHARED, 'sst2');

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'torch-lora-data-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function scratchFile(name: string, content: string | Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
}

const LONG_NAME = `aclImdb/${'very-long-directory-name/'.repeat(8)}review_7.txt`;
const PAX_NAME = `pax/${'ü'.repeat(120)}.txt`;

function sampleArchive(): Buffer {
  return tarArchive(
    tarEntry('top/', '', '5'),
    tarEntry('top/a.txt', 'alpha'),
    tarEntry('top/link', '', '2'),
    tarEntry('top/empty.txt', ''),
    tarEntry('b.bin', Buffer.alloc(1300, 7)),
    gnuLongNameEntry(LONG_NAME, 'long one'),
    paxEntry(PAX_NAME, 'pax one'),
    tarEntry('file.txt', 'prefixed', '0', 'ustar-prefix/dir'),
  );
}

const EXPECTED_NAMES = ['top/a.txt', 'top/empty.txt', 'b.bin', LONG_NAME, PAX_NAME, 'ustar-prefix/dir/file.txt'];

describe('tar reader', () => {
  it('reads regular files of a .tar.gz, resolving GNU long names, pax paths and ustar prefixes', async () => {
    const path = scratchFile('sample.tar.gz', gzipSync(sampleArchive()));
    const entries = await readTarEntries(path);
    expect(entries.map((e) => e.name)).toEqual(EXPECTED_NAMES);
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(byName.get('top/a.txt')!.data.toString()).toBe('alpha');
    expect(byName.get('top/empty.txt')!.size).toBe(0);
    expect(byName.get('b.bin')!.data.equals(Buffer.alloc(1300, 7))).toBe(true);
    expect(byName.get(LONG_NAME)!.data.toString()).toBe('long one');
    expect(byName.get(PAX_NAME)!.data.toString()).toBe('pax one');
  });

  it('reads an uncompressed tar, from a file or a Buffer', async () => {
    const fromFile = await readTarEntries(scratchFile('sample.tar', sampleArchive()));
    const fromBuffer = await readTarEntries(sampleArchive());
    expect(fromFile.map((e) => e.name)).toEqual(EXPECTED_NAMES);
    expect(fromBuffer.map((e) => e.name)).toEqual(EXPECTED_NAMES);
  });

  it('skips entries the filter rejects, after showing it each regular file once', async () => {
    const seen: string[] = [];
    const entries = await readTarEntries(gzipSync(sampleArchive()), {
      filter: ({ name, size }) => {
        seen.push(name);
        return size > 0 && name.endsWith('.txt');
      },
    });
    expect(seen).toEqual(EXPECTED_NAMES);
    expect(entries.map((e) => e.name)).toEqual(['top/a.txt', LONG_NAME, PAX_NAME, 'ustar-prefix/dir/file.txt']);
  });

  it('gives the same entries whatever the chunk boundaries', () => {
    const bytes = sampleArchive();
    const parser = new TarParser();
    const entries: TarEntry[] = [];
    for (let pos = 0, size = 1; pos < bytes.length; pos += size, size = (size * 7) % 613 || 1) {
      entries.push(...parser.push(bytes.subarray(pos, pos + size)));
    }
    parser.end();
    expect(entries.map((e) => e.name)).toEqual(EXPECTED_NAMES);
    expect(entries[2].data.equals(Buffer.alloc(1300, 7))).toBe(true);
  });

  it('rejects data that is not a tar archive, and a truncated one', async () => {
    await expect(readTarEntries(Buffer.alloc(2048, 65))).rejects.toThrow(/checksum/);
    await expect(readTarEntries(sampleArchive().subarray(0, 1200))).rejects.toThrow(/truncated/);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('IMDb', () => {
  let imdb: TextDataset;
  let loadSeconds: number;

  beforeAll(async () => {
    const started = performance.now();
    imdb = await loadImdb(IMDB_ARCHIVE);
    loadSeconds = (performance.now() - started) / 1000;
  });

  const countLabel = (examples: TextExample[], label: number) => examples.filter((e) => e.label === label).length;

  it('loads 12,500 reviews per class in train and in test from the .tar.gz, quickly', () => {
    expect(imdb.labels).toEqual(['neg', 'pos']);
    for (const split of [imdb.train, imdb.test!]) {
      expect(countLabel(split, 0)).toBe(12_500);
      expect(countLabel(split, 1)).toBe(12_500);
    }
    expect(loadSeconds).toBeLessThan(15);
  });

  it('orders each split by label, then numeric id, and replaces <br /> with a space', () => {
    // train/neg/0_3.txt and train/pos/0_9.txt are the first review of each class.
    expect(imdb.train[0].text.startsWith('Story of a man who has unnatural feelings for a pig.')).toBe(true);
    expect(imdb.train[12_500].text.startsWith('Bromwell High is a cartoon comedy.')).toBe(true);
    expect(imdb.train[12_500].label).toBe(1);
    expect(imdb.test![0].text.startsWith('Once again Mr. Costner has dragged out a movie')).toBe(true);
    // train/pos/10000_8.txt has "streets.<br /><br />But" in the original.
    expect(imdb.train[12_500 + 10_000].text).toContain('streets.  But what if');
    expect([...imdb.train, ...imdb.test!].some((e) => /<br/i.test(e.text))).toBe(false);
  });

  it('splits like Raschka: 35,000 / 5,000 / 10,000 with no review in two splits', () => {
    const split = raschkaImdbSplit(imdb, 123);
    expect([split.train.length, split.validation!.length, split.test!.length]).toEqual([35_000, 5_000, 10_000]);
    const all = new Set([...split.train, ...split.validation!, ...split.test!]);
    expect(all.size).toBe(50_000);
    expect(raschkaImdbSplit(imdb, 123).validation).toEqual(split.validation);
    // Both classes land in every split in roughly equal numbers.
    expect(countLabel(split.test!, 1) / split.test!.length).toBeCloseTo(0.5, 1);
  });
});

describe('IMDb from an extracted folder', () => {
  function makeImdbFolder(): string {
    const root = join(scratch, 'imdb-parent', 'aclImdb');
    const files: Record<string, string> = {
      'train/pos/10_8.txt': 'ten<br />pos',
      'train/pos/2_9.txt': 'two pos',
      'train/pos/3_7.txt': 'three pos',
      'train/neg/5_1.txt': 'five neg<br /><br />end',
      'test/pos/0_10.txt': 'test pos',
      'test/neg/1_2.txt': 'test neg',
      'train/urls_pos.txt': 'not a review',
      README: 'not a review',
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  it('reads the aclImdb folder or its parent, in label-then-numeric-id order', async () => {
    const root = makeImdbFolder();
    for (const path of [root, join(root, '..')]) {
      const imdb = await loadImdb(path);
      expect(imdb.train).toEqual([
        { text: 'five neg  end', label: 0 },
        { text: 'two pos', label: 1 },
        { text: 'three pos', label: 1 },
        { text: 'ten pos', label: 1 },
      ]);
      expect(imdb.test).toEqual([
        { text: 'test neg', label: 0 },
        { text: 'test pos', label: 1 },
      ]);
    }
  });

  it('names the folder it cannot use', async () => {
    await expect(loadImdb(scratch)).rejects.toThrow(/neither aclImdb/);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('SST-2 and TSV', () => {
  it('loads GLUE SST-2 with dev as validation', () => {
    const sst2 = loadSst2(SST2_DIR);
    expect(sst2.train).toHaveLength(67_349);
    expect(sst2.validation).toHaveLength(872);
    expect(sst2.test).toHaveLength(1_821);
    expect(sst2.labels).toEqual(['negative', 'positive']);
    expect(sst2.train[0]).toEqual({ text: 'hide new secretions from the parental units', label: 0 });
    expect(new Set(sst2.train.map((e) => e.label))).toEqual(new Set([0, 1]));
  });

  it('reads named columns of any TSV, and names the file and line on errors', () => {
    const path = scratchFile(
      'mnli-like.tsv',
      'id\tpremise\tgold\n1\tA man sleeps.\tneutral\n2\tIt rains "hard".\tcontradiction\n',
    );
    expect(loadTsv(path, { textColumn: 'premise', labelColumn: 'gold' })).toEqual({
      examples: [
        { text: 'A man sleeps.', label: 1 },
        { text: 'It rains "hard".', label: 0 },
      ],
      labels: ['contradiction', 'neutral'],
    });
    expect(() => loadTsv(path)).toThrow(`${path}:1: no column 'sentence'`);
    const short = scratchFile('short.tsv', 'sentence\tlabel\nfine\t1\nno label here\n');
    expect(() => loadTsv(short)).toThrow(`${short}:3: missing or empty label column 'label'`);
  });
});

describe('CSV', () => {
  it('parses quoted fields, doubled quotes, line breaks inside quotes and CRLF', () => {
    const csv = 'text,label\r\n"Hello, ""world""",pos\r\n"two\r\nlines",neg\r\nplain,pos\r\n\r\n';
    expect(parseCsv(csv)).toEqual([
      { fields: ['text', 'label'], line: 1 },
      { fields: ['Hello, "world"', 'pos'], line: 2 },
      { fields: ['two\r\nlines', 'neg'], line: 3 },
      { fields: ['plain', 'pos'], line: 5 },
    ]);
    expect(parseCsv('a,,c\n,\n"",x')).toEqual([
      { fields: ['a', '', 'c'], line: 1 },
      { fields: ['', ''], line: 2 },
      { fields: ['', 'x'], line: 3 },
    ]);
  });

  it('reports malformed quoting with its line', () => {
    expect(() => parseCsv('a\n"never closed\n', 'f.csv')).toThrow('f.csv:2: quoted field is never closed');
    expect(() => parseCsv('a\n"x\ny"z,1\n', 'f.csv')).toThrow("f.csv:3: unexpected 'z' after a closing quote");
  });

  it('maps string labels to ids in sorted order and keeps integer labels', () => {
    const strings = scratchFile(
      'strings.csv',
      '\uFEFFid,review,sentiment\n1,"good, really",positive\n2,bad,negative\n3,meh,neutral\n',
    );
    expect(loadCsv(strings, { textColumn: 'review', labelColumn: 'sentiment' })).toEqual({
      examples: [
        { text: 'good, really', label: 2 },
        { text: 'bad', label: 0 },
        { text: 'meh', label: 1 },
      ],
      labels: ['negative', 'neutral', 'positive'],
    });
    // A second file of the same dataset keeps the first file's ids, though it lacks a class.
    const dev = scratchFile('dev.csv', 'review,sentiment\nfine,positive\nugh,negative\n');
    const devExamples = loadCsv(dev, {
      textColumn: 'review',
      labelColumn: 'sentiment',
      labels: ['negative', 'neutral', 'positive'],
    });
    expect(devExamples.examples.map((e) => e.label)).toEqual([2, 0]);
    expect(() => loadCsv(dev, { textColumn: 'review', labelColumn: 'sentiment', labels: ['negative'] })).toThrow(
      `${dev}:2: label 'positive' is not one of negative`,
    );
    const numbers = scratchFile('numbers.csv', 'text,label\na,2\nb,0\n');
    expect(loadCsv(numbers)).toEqual({
      examples: [
        { text: 'a', label: 2 },
        { text: 'b', label: 0 },
      ],
      labels: ['0', '1', '2'],
    });
  });

  it('names the file and line of a missing column', () => {
    const path = scratchFile('missing.csv', 'text,label\n"a\nb",1\nonly-text\n');
    expect(() => loadCsv(path, { labelColumn: 'stars' })).toThrow(
      `${path}:1: no column 'stars' (columns: text, label)`,
    );
    expect(() => loadCsv(path)).toThrow(`${path}:4: missing or empty label column 'label'`);
  });
});

describe('JSONL', () => {
  it('reads objects with string labels, skipping blank lines', () => {
    const path = scratchFile(
      'reviews.jsonl',
      '{"text": "great", "label": "pos"}\n\n{"text": "awful", "label": "neg", "extra": 1}\n',
    );
    expect(loadJsonl(path)).toEqual({
      examples: [
        { text: 'great', label: 1 },
        { text: 'awful', label: 0 },
      ],
      labels: ['neg', 'pos'],
    });
  });

  it('names the file and line of bad JSON and missing columns', () => {
    const bad = scratchFile('bad.jsonl', '{"text": "ok", "label": 1}\n{"text": "oops", "label": }\n');
    expect(() => loadJsonl(bad)).toThrow(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: invalid JSON`));
    const missing = scratchFile('missing.jsonl', '{"sentence": "ok", "label": 1}\n');
    expect(() => loadJsonl(missing)).toThrow(`${missing}:1: missing column 'text'`);
    expect(() => loadJsonl(missing, { textColumn: 'sentence', labelColumn: 'y' })).toThrow(
      `${missing}:1: missing column 'y'`,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('splits', () => {
  const examples: TextExample[] = Array.from({ length: 1000 }, (_, i) => ({ text: `t${i}`, label: i < 800 ? 0 : 1 }));

  it('cuts counts or fractions, covering every example once', () => {
    const split = trainValidationTestSplit(examples, { validation: 0.1, test: 150, seed: 1 });
    expect([split.train.length, split.validation.length, split.test.length]).toEqual([750, 100, 150]);
    expect(new Set([...split.train, ...split.validation, ...split.test]).size).toBe(1000);
  });

  it('is determined by the seed', () => {
    const options = { validation: 100, test: 100 };
    const a = trainValidationTestSplit(examples, { ...options, seed: 7 });
    expect(trainValidationTestSplit(examples, { ...options, seed: 7 })).toEqual(a);
    expect(trainValidationTestSplit(examples, { ...options, seed: 8 }).test).not.toEqual(a.test);
    expect(shuffle([1, 2, 3, 4, 5], 3)).toEqual(shuffle([1, 2, 3, 4, 5], 3));
  });

  it('rejects impossible sizes', () => {
    expect(() => trainValidationTestSplit(examples, { validation: 600, test: 500, seed: 1 })).toThrow(/exceed/);
    expect(() => trainValidationTestSplit(examples, { validation: 1.5, test: 0, seed: 1 })).toThrow(/fraction/);
  });

  it('subsamples with balanced classes, topping up from the larger class when one runs out', () => {
    const count = (picked: TextExample[], label: number) => picked.filter((e) => e.label === label).length;
    const balanced = subsample(examples, 100, 5);
    expect([count(balanced, 0), count(balanced, 1)]).toEqual([50, 50]);
    const topped = subsample(examples, 500, 5);
    expect([count(topped, 0), count(topped, 1)]).toEqual([300, 200]);
    expect(subsample(examples, 100, 5)).toEqual(balanced);
  });
});

describe('batching', () => {
  const lengths = Array.from({ length: 1000 }, (_, i) => 8 + ((i * 7919) % 505));

  const padding = (batches: number[][]) =>
    batches.reduce((sum, batch) => {
      const longest = Math.max(...batch.map((i) => lengths[i]));
      return sum + batch.reduce((waste, i) => waste + longest - lengths[i], 0);
    }, 0);

  it('uses every index exactly once, in full batches but one', () => {
    const batches = lengthBucketedBatches(lengths, { batchSize: 32, seed: 1, chunkBatches: 10 });
    expect(batches.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    expect(batches.filter((b) => b.length !== 32)).toHaveLength(1);
    const dropped = lengthBucketedBatches(lengths, { batchSize: 32, seed: 1, chunkBatches: 10, dropLast: true });
    expect(dropped.every((b) => b.length === 32)).toBe(true);
    expect(dropped).toHaveLength(31);
  });

  it('groups similar lengths, deterministically for a seed', () => {
    const bucketed = lengthBucketedBatches(lengths, { batchSize: 32, seed: 1, chunkBatches: 10 });
    const randomOrder = shuffle(
      lengths.map((_, i) => i),
      1,
    );
    const unbucketed = sequentialBatches(1000, 32).map((batch) => batch.map((i) => randomOrder[i]));
    expect(padding(bucketed)).toBeLessThan(padding(unbucketed) / 5);
    expect(lengthBucketedBatches(lengths, { batchSize: 32, seed: 1, chunkBatches: 10 })).toEqual(bucketed);
    expect(lengthBucketedBatches(lengths, { batchSize: 32, seed: 2, chunkBatches: 10 })).not.toEqual(bucketed);
  });

  it('batches sequentially for evaluation', () => {
    expect(sequentialBatches(5, 2)).toEqual([[0, 1], [2, 3], [4]]);
    expect(() => sequentialBatches(5, 0)).toThrow(/batchSize/);
  });
});
