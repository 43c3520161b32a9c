// The fuzz suite's targets: for each parser, valid seed inputs, random and structure-aware mutations of them, and the
// call that parses one case. test/helpers/fuzz-child.js runs a batch of cases in a child process; test/fuzz.test.ts
// starts the children and checks what they report. A case is reproducible from (target, seed, index).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { parseSafetensors, serializeSafetensors } from '../../lib/io/safetensors';
import { parseTorchCheckpoint } from '../../lib/io/torch-pickle';
import { readZipDirectory, zipEntryData } from '../../lib/io/zip';
import { readDistilBertConfig } from '../../lib/models/distilbert/config';
import { readTarEntries } from '../../lib/data/tar';
import { mulberry32 } from '../../lib/data/split';
import { zipArchive, stateDictPickle, torchArchive } from './torch-zip';
import { gnuLongNameEntry, paxEntry, paxHeaderEntry, tarArchive, tarEntry } from './tar-writer';

/** The library's seeded mulberry32 (lib/data/split.ts), with the helpers mutations need. */
export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const INTERESTING_U32 = [
  0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
];
const INTERESTING_BYTES = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x28, 0x2e, 0x4e, 0x5d, 0x7d];

// ---------------------------------------------------------------------------------------------------------------
// Random mutations of bytes

function mutateBytes(input: Buffer, rng: Rng): Buffer {
  let buf = Buffer.from(input);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = buf.length === 0 ? 0 : rng.int(buf.length);
    switch (rng.int(8)) {
      case 0:
        if (buf.length) buf[at] ^= 1 << rng.int(8);
        break;
      case 1:
        if (buf.length) buf[at] = rng.pick(INTERESTING_BYTES);
        break;
      case 2:
        if (at + 4 <= buf.length) buf.writeUInt32LE(rng.pick(INTERESTING_U32), at);
        break;
      case 3:
        buf = Buffer.concat([
          buf.subarray(0, at),
          Buffer.from(Array.from({ length: 1 + rng.int(16) }, () => rng.int(256))),
          buf.subarray(at),
        ]);
        break;
      case 4:
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(buf.length, at + 1 + rng.int(64)))]);
        break;
      case 5:
        buf = buf.subarray(0, at);
        break;
      case 6: {
        // repeat a slice several times: how small files claim large structures
        const len = 1 + rng.int(32);
        const piece = buf.subarray(at, at + len);
        buf = Buffer.concat([
          buf.subarray(0, at),
          ...Array.from({ length: 2 + rng.int(200) }, () => piece),
          buf.subarray(at),
        ]);
        break;
      }
      default:
        if (at + 8 <= buf.length)
          buf.writeBigUInt64LE(rng.pick([0n, 1n, 0xffffffffn, 1n << 40n, (1n << 63n) - 1n, (1n << 64n) - 1n]), at);
    }
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------------------------
// Structure-aware mutations of JSON values (safetensors headers, config.json)

const INTERESTING_JSON: readonly unknown[] = [
  -1,
  0,
  1,
  2.5,
  1e300,
  -1e300,
  2 ** 53,
  2 ** 32 + 1,
  1e8,
  '',
  '2',
  'x',
  'gelu',
  null,
  true,
  false,
  [],
  {},
  [1, 2],
  [-1],
  [1e9, 1e9],
  Array.from({ length: 64 }, () => 2),
  { a: 1 },
  '\u0000',
  'ü'.repeat(50),
];

function jsonPaths(
  value: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => jsonPaths(v, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) jsonPaths(v, [...prefix, k], out);
  return out;
}

function mutateJson(value: unknown, rng: Rng): unknown {
  const root = structuredClone(value) as Record<string, unknown>;
  const rounds = 1 + rng.int(3);
  let result: unknown = root;
  for (let r = 0; r < rounds; r++) {
    const paths = jsonPaths(result).filter((p) => p.length > 0);
    if (paths.length === 0) return rng.pick(INTERESTING_JSON);
    const target = rng.pick(paths);
    let parent = result as Record<string | number, unknown>;
    for (const key of target.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const last = target[target.length - 1];
    switch (rng.int(4)) {
      case 0:
        delete parent[last];
        break;
      case 1:
        if (!Array.isArray(parent)) parent[`${String(last)}${rng.int(3)}`] = parent[last];
        break;
      default:
        parent[last] = structuredClone(rng.pick(INTERESTING_JSON));
    }
    if (rng.chance(0.03)) result = rng.pick(INTERESTING_JSON);
  }
  return result;
}

/** JSON text with one key written twice (JSON.parse would keep the second silently). */
function duplicateAKey(text: string, rng: Rng): string {
  const keys = [...text.matchAll(/"([^"\\]+)":/g)];
  if (keys.length === 0) return text;
  const m = rng.pick(keys);
  const at = m.index! + m[0].length;
  return `${text.slice(0, at)}${rng.pick(['1', '"x"', '{}', 'null'])},"${m[1]}":${text.slice(at)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Targets

export interface FuzzTarget {
  /** The input for case `index` (and what the case's input is called in errors). */
  make(rng: Rng): Buffer;
  /** Parses it; must return normally or throw an Error whose message includes `source`. */
  run(input: Buffer, source: string): void | Promise<void>;
}

const floats = (n: number) => {
  const b = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) b.writeFloatLE(i / 3, i * 4);
  return b;
};

function safetensorsSeed(): Buffer {
  return serializeSafetensors(
    {
      a: { dtype: 'float32', shape: [2, 3], data: floats(6) },
      b: { dtype: 'int64', shape: [2], data: Buffer.alloc(16, 1) },
      c: { dtype: 'uint8', shape: [0], data: Buffer.alloc(0) },
      d: { dtype: 'bfloat16', shape: [], data: Buffer.alloc(2, 3) },
    },
    { format: 'pt' },
  );
}

function rebuildSafetensors(header: string, data: Buffer, rng: Rng): Buffer {
  const json = Buffer.from(header);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(rng.chance(0.9) ? json.length : rng.int(json.length * 2 + 2)));
  return Buffer.concat([length, json, data]);
}

const safetensors: FuzzTarget = {
  make(rng) {
    const seed = safetensorsSeed();
    if (rng.chance(0.4)) return mutateBytes(seed, rng);
    const n = Number(seed.readBigUInt64LE(0));
    const header = seed.toString('utf8', 8, 8 + n);
    const data = seed.subarray(8 + n);
    const text = rng.chance(0.2) ? duplicateAKey(header, rng) : JSON.stringify(mutateJson(JSON.parse(header), rng));
    return rebuildSafetensors(text, rng.chance(0.2) ? data.subarray(0, rng.int(data.length)) : data, rng);
  },
  run(input, source) {
    const { tensors } = parseSafetensors(input, source);
    for (const t of tensors.values()) void t.data.length;
  },
};

// A real PyTorch file (tools/make_io_fixtures.py) and one built here with views, a deflated storage and int64s.
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'io');
function checkpointSeeds(): Buffer[] {
  const crafted = zipArchive([
    {
      name: 'archive/data.pkl',
      data: stateDictPickle([
        { name: 'w', storage: '0', storageNumel: 6, shape: [2, 3] },
        { name: 'wt', storage: '0', storageNumel: 6, shape: [3, 2], stride: [1, 3] },
        { name: 'ids', storage: '1', storageType: 'LongStorage', storageNumel: 4, shape: [1, 4] },
        { name: 'row', storage: '0', storageNumel: 6, offset: 3, shape: [3] },
      ]),
    },
    { name: 'archive/version', data: Buffer.from('3\n') },
    { name: 'archive/data/0', data: floats(6), deflate: true },
    { name: 'archive/data/1', data: Buffer.alloc(32, 2) },
  ]);
  return [
    fs.readFileSync(path.join(FIXTURES, 'tensors.pt')),
    fs.readFileSync(path.join(FIXTURES, 'tensors-deflated.pt')),
    crafted,
  ];
}

function parseCheckpointFully(input: Buffer, source: string): void {
  for (const t of parseTorchCheckpoint(input, source).values()) void t.data.length;
}

// Central and local headers and the end record, with the offsets of their size, count and offset fields.
const ZIP_FIELDS: Record<number, number[]> = {
  0x02014b50: [10, 20, 24, 28, 30, 32, 42],
  0x04034b50: [8, 18, 22, 26, 28],
  0x06054b50: [8, 10, 12, 16, 20],
};

function mutateZipFields(input: Buffer, rng: Rng): Buffer {
  const buf = Buffer.from(input);
  const records: [number, number[]][] = [];
  for (let i = 0; i + 4 <= buf.length; i++) {
    const fields = ZIP_FIELDS[buf.readUInt32LE(i)];
    if (fields) records.push([i, fields]);
  }
  for (let r = 1 + rng.int(3); r > 0 && records.length; r--) {
    const [at, fields] = rng.pick(records);
    const field = at + rng.pick(fields);
    if (field + 4 > buf.length) continue;
    const value = rng.chance(0.5)
      ? rng.pick(INTERESTING_U32)
      : buf.readUInt32LE(field) + rng.pick([-1, 1, 64, -64, 1 << 20]);
    if (rng.chance(0.5) || field + 4 > buf.length) buf.writeUInt16LE(value & 0xffff, field);
    else buf.writeUInt32LE(value >>> 0, field);
  }
  return buf;
}

const zip: FuzzTarget = {
  make(rng) {
    const seed = rng.pick(checkpointSeeds());
    return rng.chance(0.5) ? mutateZipFields(seed, rng) : mutateBytes(seed, rng);
  },
  run(input, source) {
    const entries = readZipDirectory(input, source);
    for (const entry of entries.values()) zipEntryData(input, entry, source, 1 << 24);
  },
};

// Opcodes with arguments the unpickler knows, as (opcode, argument bytes) snippets to splice in.
const PICKLE_SNIPPETS: Buffer[] = [
  [0x4e],
  [0x88],
  [0x89],
  [0x29],
  [0x5d],
  [0x7d],
  [0x28],
  [0x74],
  [0x6c],
  [0x64],
  [0x61],
  [0x65],
  [0x73],
  [0x75],
  [0x85],
  [0x86],
  [0x87],
  [0x30],
  [0x31],
  [0x32],
  [0x52],
  [0x62],
  [0x51],
  [0x93],
  [0x94],
  [0x2e],
  [0x4b, 0xff],
  [0x4d, 0xff, 0xff],
  [0x4a, 0xff, 0xff, 0xff, 0x7f],
  [0x8a, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [0x8b, 0xff, 0xff, 0xff, 0x00],
  [0x71, 0x00],
  [0x72, 0xff, 0xff, 0xff, 0xff],
  [0x68, 0x00],
  [0x68, 0x07],
  [0x6a, 0xff, 0xff, 0xff, 0x7f],
  [0x58, 0x05, 0, 0, 0, 0x68, 0x65, 0x6c, 0x6c, 0x6f],
  [0x8c, 0x03, 0x61, 0x62, 0x63],
  [0x43, 0x02, 0, 0],
  [0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x47, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0],
  [...Buffer.from('ctorch\nFloatStorage\n')],
  [...Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n')],
  [...Buffer.from('ccollections\nOrderedDict\n')],
  [...Buffer.from('cos\nsystem\n')],
  [...Buffer.from('cbuiltins\neval\n')],
].map((b) => Buffer.from(b));

// 40 levels of shared references ([x, x] of [x, x] of ...): describing it naively is exponential.
const SHARED_DEPTH = [0x4e, ...Array.from({ length: 40 }, () => [0x32, 0x86]).flat()];
/** Whole small pickles aimed at the known blow-ups: shared structures in every place an error describes a value. */
const HOSTILE_PICKLES: Buffer[] = [
  [0x80, 0x02, ...SHARED_DEPTH, 0x29, 0x52, 0x2e], // REDUCE on it
  [0x80, 0x02, 0x7d, ...SHARED_DEPTH, 0x4e, 0x73, 0x2e], // as a state dict key
  [0x80, 0x02, ...SHARED_DEPTH, 0x51, 0x2e], // as a persistent id
  [0x80, 0x02, ...Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n'), ...SHARED_DEPTH, 0x52, 0x2e], // as tensor arguments
  [0x80, 0x02, ...SHARED_DEPTH, 0x4e, 0x62, 0x2e], // BUILD on it
  [0x80, 0x02, ...SHARED_DEPTH, 0x4e, 0x61, 0x2e], // APPEND to it
  [0x80, 0x02, ...SHARED_DEPTH, 0x4e, 0x4e, 0x73, 0x2e], // SETITEM on it
  [0x80, 0x02, ...SHARED_DEPTH, 0x2e], // as the state dict itself
].map((b) => Buffer.from(b));

/** A unit repeated up to 1.05M times: the stack and the memo just past their limits, lists and dicts growing. */
function amplified(rng: Rng): Buffer {
  const [prefix, unit] = rng.pick([
    [[0x80, 0x02], [0x4e]],
    [
      [0x80, 0x02, 0x5d],
      [0x4e, 0x61],
    ],
    [[0x80, 0x02, 0x4e], [0x94]],
    [[0x80, 0x02, 0x4e], [0x32]],
    [
      [0x80, 0x02, 0x7d],
      [0x4e, 0x4e, 0x73],
    ],
    [[0x80, 0x02, 0x5d, 0x28], [0x4e]],
    [
      [0x80, 0x02, 0x4e],
      [0x71, 0x01],
    ],
  ] as const);
  const count = rng.pick([1000, 100_000, 1_050_000]);
  const body = Buffer.alloc(unit.length * count, Buffer.from(unit));
  return Buffer.concat([Buffer.from(prefix), body, rng.chance(0.5) ? Buffer.from([0x65, 0x2e]) : Buffer.from([0x2e])]);
}

function mutatePickle(pickle: Buffer, rng: Rng): Buffer {
  let out = pickle;
  for (let r = 1 + rng.int(4); r > 0; r--) {
    const at = rng.int(out.length + 1);
    switch (rng.int(4)) {
      case 0:
        out = Buffer.concat([out.subarray(0, at), rng.pick(PICKLE_SNIPPETS), out.subarray(at)]);
        break;
      case 1:
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + rng.int(8)))]);
        break;
      case 2: {
        // change an integer argument (shapes, strides, offsets, numels)
        const ints = [...out.keys()].filter((i) => (out[i] === 0x4b || out[i] === 0x4a) && i + 1 < out.length);
        if (ints.length) {
          out = Buffer.from(out);
          const i = rng.pick(ints);
          out[i] = 0x4a;
          if (i + 5 <= out.length) out.writeInt32LE(rng.pick([-1, 0, 1, 3, 1 << 20, 0x7fffffff, -0x80000000]), i + 1);
        }
        break;
      }
      default:
        out = mutateBytes(out, rng);
    }
  }
  return out;
}

const unpickler: FuzzTarget = {
  make(rng) {
    const seed = rng.pick(checkpointSeeds());
    const entries = [...readZipDirectory(seed, 'seed').values()];
    const files = entries.map((e) => ({ name: e.name, data: Buffer.from(zipEntryData(seed, e, 'seed')) }));
    const pkl = files.find((f) => f.name.endsWith('data.pkl'))!;
    const roll = rng.int(100);
    pkl.data =
      roll === 0
        ? amplified(rng)
        : roll < 15
          ? mutatePickle(rng.pick(HOSTILE_PICKLES), rng)
          : roll < 25
            ? rng.pick(HOSTILE_PICKLES)
            : mutatePickle(pkl.data, rng);
    return zipArchive(files);
  },
  run: parseCheckpointFully,
};

const checkpoint: FuzzTarget = {
  make(rng) {
    if (rng.chance(0.3)) {
      // a bomb or a lying size on one storage
      const numel = rng.pick([1, 6, 1 << 20, 1 << 28]);
      return torchArchive(
        stateDictPickle([
          {
            name: 'w',
            storage: '0',
            storageType: 'ByteStorage',
            storageNumel: numel,
            shape: [rng.pick([1, numel, numel * 2])],
            stride: [rng.pick([0, 1])],
          },
        ]),
        {
          0: {
            data: Buffer.alloc(0),
            deflate: true,
            raw: zlib.deflateRawSync(Buffer.alloc(rng.pick([1, 1 << 16, 1 << 22]))),
            declaredSize: numel,
          },
        },
      );
    }
    return mutateBytes(rng.pick(checkpointSeeds()), rng);
  },
  run: parseCheckpointFully,
};

const TINY_CONFIG = {
  activation: 'gelu',
  attention_dropout: 0.1,
  dim: 32,
  dropout: 0.1,
  hidden_dim: 64,
  initializer_range: 0.02,
  max_position_embeddings: 64,
  model_type: 'distilbert',
  n_heads: 4,
  n_layers: 2,
  pad_token_id: 0,
  qa_dropout: 0.1,
  seq_classif_dropout: 0.2,
  sinusoidal_pos_embds: false,
  vocab_size: 100,
  id2label: { 0: 'NEGATIVE', 1: 'POSITIVE' },
  label2id: { NEGATIVE: 0, POSITIVE: 1 },
};

let configDir: string | undefined;
const config: FuzzTarget = {
  make(rng) {
    const text = JSON.stringify(TINY_CONFIG);
    if (rng.chance(0.15)) return mutateBytes(Buffer.from(text), rng);
    if (rng.chance(0.1)) return Buffer.from(duplicateAKey(text, rng));
    return Buffer.from(JSON.stringify(mutateJson(TINY_CONFIG, rng)) ?? 'null');
  },
  run(input, source) {
    if (configDir === undefined) {
      // Memory-backed where there is one: a file write on this disk costs milliseconds, a case here 0.05 ms.
      const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
      const dir = fs.mkdtempSync(path.join(base, 'torch-lora-fuzz-'));
      configDir = dir;
      process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    }
    fs.writeFileSync(path.join(configDir, 'config.json'), input);
    try {
      readDistilBertConfig(configDir);
    } catch (e) {
      // The file is named by its folder, which stands for this case's input.
      if (e instanceof Error && e.message.includes(configDir)) throw new Error(`${source}: ${e.message}`);
      throw e;
    }
  },
};

function tarSeed(): Buffer {
  return tarArchive(
    tarEntry('a/', '', '5'),
    tarEntry('a/x.txt', 'alpha'),
    tarEntry('b.bin', Buffer.alloc(700, 7)),
    gnuLongNameEntry(`long/${'n'.repeat(120)}.txt`, 'long one'),
    paxEntry(`pax/${'p'.repeat(110)}.txt`, 'pax one'),
    paxHeaderEntry([
      ['size', '3'],
      ['path', 'sized.txt'],
    ]),
    tarEntry('ignored-size.txt', 'abc'),
  );
}

// Rewrites a header field and its checksum, so the mutation reaches past the checksum test.
function mutateTarHeader(input: Buffer, rng: Rng): Buffer {
  const buf = Buffer.from(input);
  const headers: number[] = [];
  for (let at = 0; at + 512 <= buf.length; at += 512)
    if (buf.toString('latin1', at + 257, at + 262) === 'ustar') headers.push(at);
  if (headers.length === 0) return buf;
  const at = rng.pick(headers);
  switch (rng.int(4)) {
    case 0:
      buf.write(
        rng
          .pick([
            '77777777777\0',
            '-0000000005\0',
            'NaN\0',
            '00000001000\0',
            '7777777777777',
            '\0\0\0\0\0\0\0\0\0\0\0\0',
            '00000000010 ',
          ])
          .padEnd(12, '\0')
          .slice(0, 12),
        at + 124,
        'latin1',
      );
      break;
    case 1:
      buf[at + 124] = rng.pick([0x80, 0xff]);
      for (let i = 125; i < 136; i++) buf[at + i] = rng.pick([0, 0xff, 0x01]);
      break;
    case 2:
      buf[at + 156] = rng.pick([...'012567LKxgX'].map((c) => c.charCodeAt(0)));
      break;
    default:
      buf.fill(rng.pick([0, 0x41, 0xff]), at + rng.int(100), at + 100);
  }
  buf.write('        ', at + 148, 'latin1');
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += buf[i];
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  return buf;
}

const tar: FuzzTarget = {
  make(rng) {
    const seed = tarSeed();
    const roll = rng.int(10);
    if (roll < 3) return mutateTarHeader(seed, rng);
    if (roll < 5) return mutateBytes(seed, rng);
    if (roll < 7) return zlib.gzipSync(mutateTarHeader(seed, rng));
    if (roll < 8)
      return Buffer.concat([
        seed.subarray(0, 1024),
        paxHeaderEntry([
          [rng.pick(['size', 'path']), rng.pick(['-5', 'NaN', '1e3', '', '99999999999999999999', 'x'.repeat(300)])],
        ]),
        seed.subarray(1024),
      ]);
    return mutateBytes(zlib.gzipSync(seed), rng);
  },
  async run(input, source) {
    await readTarEntries(input, { name: source });
  },
};

export const TARGETS: Record<string, FuzzTarget> = { safetensors, zip, unpickler, checkpoint, config, tar };
