import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DType, RawTensor } from '../../lib/io';
import {
  ITEMSIZE,
  DTYPES,
  fromSafetensorsDType,
  toSafetensorsDType,
  fromTorchStorageName,
  readSafetensors,
  parseSafetensors,
  writeSafetensors,
  serializeSafetensors,
  readTorchCheckpoint,
  unpickle,
  loadStateDictFile,
  loadCheckpointFolder,
  resolveModelPath,
  repoFolderName,
  findCachedModelPath,
} from '../../lib/io';
import { AutoTokenizer } from '../../lib/tokenizer';
import { BASE_MODEL_FILES } from '../helpers/paths';
import { readWholeFile } from '../../lib/io/read-file';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'io');
const TINY = path.join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'distilbert-tiny-random');
const fixture = (name: string) => path.join(FIXTURES, name);

interface Expected {
  dtype: DType;
  shape: number[];
  values: (number | boolean)[];
}
const EXPECTED: Record<string, Expected> = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8'));

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torch-lora-io-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function halfToNumber(h: number): number {
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function decode(t: RawTensor): (number | boolean)[] {
  const n = t.data.length / ITEMSIZE[t.dtype];
  const read: Record<DType, (i: number) => number | boolean> = {
    float32: (i) => t.data.readFloatLE(i * 4),
    float64: (i) => t.data.readDoubleLE(i * 8),
    float16: (i) => halfToNumber(t.data.readUInt16LE(i * 2)),
    bfloat16: (i) => {
      const b = Buffer.alloc(4);
      b.writeUInt16LE(t.data.readUInt16LE(i * 2), 2);
      return b.readFloatLE(0);
    },
    int64: (i) => Number(t.data.readBigInt64LE(i * 8)),
    int32: (i) => t.data.readInt32LE(i * 4),
    int16: (i) => t.data.readInt16LE(i * 2),
    int8: (i) => t.data.readInt8(i),
    uint8: (i) => t.data.readUInt8(i),
    bool: (i) => t.data[i] !== 0,
  };
  return Array.from({ length: n }, (_, i) => read[t.dtype](i));
}

function expectMatchesExpected(tensors: Map<string, RawTensor>): void {
  expect([...tensors.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
  for (const [name, want] of Object.entries(EXPECTED)) {
    const t = tensors.get(name)!;
    expect({ name, dtype: t.dtype, shape: t.shape }).toEqual({ name, dtype: want.dtype, shape: want.shape });
    expect(t.data.length).toBe(want.values.length * ITEMSIZE[t.dtype]);
    expect({ name, values: decode(t) }).toEqual({ name, values: want.values });
  }
}

function expectSameTensors(a: Map<string, RawTensor>, b: Map<string, RawTensor>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [name, t] of a) {
    const u = b.get(name)!;
    expect({ name, dtype: u.dtype, shape: u.shape }).toEqual({ name, dtype: t.dtype, shape: t.shape });
    expect(Buffer.compare(t.data, u.data)).toBe(0);
  }
}

function copyTruncated(src: string, keepBytes: number): string {
  const dst = path.join(tmp, `truncated-${path.basename(src)}`);
  fs.writeFileSync(dst, fs.readFileSync(src).subarray(0, keepBytes));
  return dst;
}

function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  return fn().finally(() => apply(saved));
}

describe('dtype tables', () => {
  test('safetensors and torch storage names map both ways', () => {
    for (const d of DTYPES) expect(fromSafetensorsDType(toSafetensorsDType(d))).toBe(d);
    expect(fromSafetensorsDType('F8_E4M3')).toBeUndefined();
    expect(fromTorchStorageName('BFloat16Storage')).toBe('bfloat16');
    expect(fromTorchStorageName('CharStorage')).toBe('int8');
    expect(fromTorchStorageName('ComplexFloatStorage')).toBeUndefined();
  });
});

describe('reference fixtures (tools/make_io_fixtures.py)', () => {
  test('torch.save zip checkpoint: all dtypes, transposed, offset, shared storages, parameter', () => {
    expectMatchesExpected(readTorchCheckpoint(fixture('tensors.pt')));
  });

  test('torch checkpoint with deflated entries', () => {
    expectMatchesExpected(readTorchCheckpoint(fixture('tensors-deflated.pt')));
  });

  test('safetensors file, with its metadata, as views of one buffer', () => {
    const { tensors, metadata } = readSafetensors(fixture('tensors.safetensors'));
    expectMatchesExpected(tensors);
    expect(metadata).toEqual({ format: 'pt', source: 'make_io_fixtures' });
    const buffers = new Set([...tensors.values()].filter((t) => t.data.length > 0).map((t) => t.data.buffer));
    expect(buffers.size).toBe(1);
  });

  test('our writer reproduces the Python-written safetensors file byte for byte', () => {
    const { tensors, metadata } = readSafetensors(fixture('tensors.safetensors'));
    const shuffled = new Map([...tensors].reverse());
    expect(serializeSafetensors(shuffled, metadata).equals(fs.readFileSync(fixture('tensors.safetensors')))).toBe(true);
  });

  test('loadStateDictFile picks the format from the content', () => {
    const copy = path.join(tmp, 'weights.bin');
    fs.copyFileSync(fixture('tensors.safetensors'), copy);
    expectMatchesExpected(loadStateDictFile(copy));
    expectMatchesExpected(loadStateDictFile(fixture('tensors.pt')));
  });
});

describe('distilbert-tiny-random checkpoint', () => {
  test('model.safetensors and pytorch_model.bin hold identical tensors', () => {
    const fromSafetensors = readSafetensors(path.join(TINY, 'model.safetensors')).tensors;
    const fromTorch = readTorchCheckpoint(path.join(TINY, 'pytorch_model.bin'));
    expect(fromSafetensors.size).toBeGreaterThan(30);
    expectSameTensors(fromSafetensors, fromTorch);
  });

  test('loadCheckpointFolder prefers model.safetensors', () => {
    const loaded = loadCheckpointFolder(TINY);
    expect(loaded.format).toBe('safetensors');
    expect(loaded.files).toEqual([path.resolve(TINY, 'model.safetensors')]);
    expect(loaded.tensors.get('distilbert.embeddings.word_embeddings.weight')!.shape).toEqual([30522, 32]);
  });

  test('loadCheckpointFolder falls back to pytorch_model.bin', () => {
    fs.symlinkSync(path.join(TINY, 'pytorch_model.bin'), path.join(tmp, 'pytorch_model.bin'));
    const loaded = loadCheckpointFolder(tmp);
    expect(loaded.format).toBe('torch');
    expectSameTensors(loaded.tensors, readSafetensors(path.join(TINY, 'model.safetensors')).tensors);
  });

  test('sharded safetensors index', () => {
    const all = readSafetensors(path.join(TINY, 'model.safetensors')).tensors;
    const names = [...all.keys()];
    const shardOf = (i: number) => `model-0000${i < names.length / 2 ? 1 : 2}-of-00002.safetensors`;
    const weightMap = Object.fromEntries(names.map((n, i) => [n, shardOf(i)]));
    for (const shard of new Set(Object.values(weightMap))) {
      writeSafetensors(
        path.join(tmp, shard),
        new Map(names.filter((n) => weightMap[n] === shard).map((n) => [n, all.get(n)!])),
      );
    }
    fs.writeFileSync(
      path.join(tmp, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    const loaded = loadCheckpointFolder(tmp);
    expect(loaded.format).toBe('safetensors');
    expect(loaded.files.map((f) => path.basename(f)).sort()).toEqual([
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
    expectSameTensors(loaded.tensors, all);

    weightMap['not.there'] = shardOf(0);
    fs.writeFileSync(path.join(tmp, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    expect(() => loadCheckpointFolder(tmp)).toThrow(/'not\.there' should be in model-00001-of-00002\.safetensors/);
  });

  test('a folder without weights names what was looked for', () => {
    expect(() => loadCheckpointFolder(tmp)).toThrow(
      /no checkpoint found; looked for model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json/,
    );
    expect(() => loadCheckpointFolder(path.join(tmp, 'nope'))).toThrow(/not a directory/);
  });
});

describe('safetensors writing', () => {
  const bytes = (...values: number[]) => Buffer.from(values);

  test('round trip of every dtype, an empty tensor, a 0-dim scalar and metadata', () => {
    const tensors: Record<string, RawTensor> = {};
    for (const dtype of DTYPES) {
      const data = Buffer.alloc(6 * ITEMSIZE[dtype]);
      for (let i = 0; i < data.length; i++) data[i] = (i * 37 + dtype.length) & (dtype === 'bool' ? 1 : 0xff);
      tensors[`t_${dtype}`] = { dtype, shape: [2, 3], data };
    }
    tensors.empty = { dtype: 'float32', shape: [0, 4], data: Buffer.alloc(0) };
    tensors.scalar = { dtype: 'float64', shape: [], data: Buffer.alloc(8, 7) };
    tensors['0'] = { dtype: 'uint8', shape: [1], data: bytes(9) }; // integer-like names must not reorder the header
    const file = path.join(tmp, 'all.safetensors');
    writeSafetensors(file, tensors, { format: 'pt', note: 'héllo' });

    const { tensors: back, metadata } = readSafetensors(file);
    expect(metadata).toEqual({ format: 'pt', note: 'héllo' });
    expectSameTensors(back, new Map(Object.entries(tensors)));
    const raw = fs.readFileSync(file);
    const headerLength = Number(raw.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    expect(raw.toString('utf8', 8, 8 + 16)).toBe('{"__metadata__":');
    expect(Object.keys(JSON.parse(raw.toString('utf8', 8, 8 + headerLength)))).toContain('0');
  });

  test('tensors are laid out by descending alignment, then name', () => {
    const buf = serializeSafetensors({
      b: { dtype: 'uint8', shape: [1], data: bytes(1) },
      a: { dtype: 'uint8', shape: [1], data: bytes(2) },
      c: { dtype: 'int64', shape: [1], data: Buffer.alloc(8) },
      d: { dtype: 'float16', shape: [1], data: Buffer.alloc(2) },
    });
    const header = JSON.parse(buf.toString('utf8', 8, 8 + Number(buf.readBigUInt64LE(0))));
    expect(Object.keys(header)).toEqual(['c', 'd', 'a', 'b']);
    expect(header.a.data_offsets).toEqual([10, 11]);
  });

  test('an empty dict', () => {
    const buf = serializeSafetensors(new Map());
    expect([...buf]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
    expect(parseSafetensors(buf).tensors.size).toBe(0);
  });

  test('refuses a tensor whose data does not match its shape', () => {
    expect(() =>
      writeSafetensors(path.join(tmp, 'x.safetensors'), { x: { dtype: 'float32', shape: [3], data: Buffer.alloc(8) } }),
    ).toThrow(/tensor 'x': float32\[3\] needs 12 bytes, data has 8/);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  test('atomic: no temp file left behind, and a failed write keeps the old file', () => {
    const file = path.join(tmp, 'model.safetensors');
    const first = { w: { dtype: 'float32' as const, shape: [2], data: Buffer.alloc(8, 1) } };
    writeSafetensors(file, first);
    expect(fs.readdirSync(tmp)).toEqual(['model.safetensors']);
    const before = fs.readFileSync(file);

    // The real module object: the `import * as fs` namespace has read-only bindings.
    const nodeFs = jest.requireActual<typeof fs>('fs');
    const spy = jest.spyOn(nodeFs, 'writeSync').mockImplementationOnce(() => {
      throw new Error('disk full');
    });
    try {
      expect(() => writeSafetensors(file, { w: { dtype: 'float32', shape: [4], data: Buffer.alloc(16, 2) } })).toThrow(
        'disk full',
      );
    } finally {
      spy.mockRestore();
    }
    expect(fs.readdirSync(tmp)).toEqual(['model.safetensors']);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });
});

describe('corrupt and hostile inputs give clear errors', () => {
  const write = (name: string, data: Buffer) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, data);
    return file;
  };
  const withHeader = (header: string, dataBytes = 0) => {
    const json = Buffer.from(header);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([length, json, Buffer.alloc(dataBytes)]);
  };

  test('truncated safetensors', () => {
    const size = fs.statSync(fixture('tensors.safetensors')).size;
    const file = copyTruncated(fixture('tensors.safetensors'), size - 10);
    expect(() => readSafetensors(file)).toThrow(new RegExp(`${file}: .*out of range.*truncated`));
    expect(() => readSafetensors(copyTruncated(fixture('tensors.safetensors'), 5))).toThrow(/too short/);
    expect(() => readSafetensors(copyTruncated(fixture('tensors.safetensors'), 100))).toThrow(
      /header length \d+ is beyond the file size \(100 bytes\)/,
    );
  });

  test('bad safetensors headers', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['garbage.safetensors', withHeader('{"a": [1, 2'), /header is not valid JSON/],
      ['array.safetensors', withHeader('[1]'), /header is not a JSON object/],
      [
        'dtype.safetensors',
        withHeader('{"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}', 1),
        /tensor 'a': unknown dtype "Q8"/,
      ],
      [
        'shape.safetensors',
        withHeader('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4),
        /tensor 'a': invalid shape/,
      ],
      [
        'span.safetensors',
        withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4),
        /span 4 bytes but F32\[2\] needs 8/,
      ],
      ['range.safetensors', withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 4), /out of range/],
      [
        'overlap.safetensors',
        withHeader(
          '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}',
          4,
        ),
        /tensor 'b'.* overlap tensor 'a'/,
      ],
      ['metadata.safetensors', withHeader('{"__metadata__":{"n":1}}'), /"__metadata__" value for 'n' is not a string/],
    ];
    for (const [name, data, message] of cases) {
      const file = write(name, data);
      expect(() => readSafetensors(file)).toThrow(message);
      expect(() => readSafetensors(file)).toThrow(file);
    }
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(0xffffffffffffn);
    expect(() => parseSafetensors(huge)).toThrow(/<buffer>: header length 281474976710655 is beyond the file size/);
  });

  test('truncated torch checkpoints', () => {
    const size = fs.statSync(fixture('tensors.pt')).size;
    for (const keep of [size - 30, size - 400, 1000, 10]) {
      const file = copyTruncated(fixture('tensors.pt'), keep);
      expect(() => readTorchCheckpoint(file)).toThrow(new RegExp(`${file}: corrupt or truncated ZIP archive`));
    }
  });

  test('not a zip, no data.pkl, a missing storage, a cut pickle', () => {
    expect(() => readTorchCheckpoint(write('random.bin', Buffer.from('hello, this is not a checkpoint')))).toThrow(
      /random\.bin: not a torch zip checkpoint/,
    );
    expect(() => readTorchCheckpoint(write('legacy.bin', Buffer.from([0x80, 0x02, 0x8a, 0x0a])))).toThrow(
      /legacy pre-1\.6 torch\.save format/,
    );
    expect(() => readTorchCheckpoint(fixture('no-data-pkl.pt'))).toThrow(
      /no-data-pkl\.pt: no data\.pkl in the archive/,
    );
    expect(() => readTorchCheckpoint(fixture('missing-storage.pt'))).toThrow(
      /missing-storage\.pt: storage entry tensors\/data\/0 is missing/,
    );
    expect(() => readTorchCheckpoint(fixture('bad-pickle.pt'))).toThrow(/bad-pickle\.pt: bad pickle: truncated pickle/);
    expect(() => loadStateDictFile(fixture('no-data-pkl.pt'))).toThrow(/no data\.pkl/);
  });

  test('a pickle calling os.system is refused, not run', () => {
    expect(() => readTorchCheckpoint(fixture('evil.pt'))).toThrow(/evil\.pt: unsupported pickle global os\.system/);
  });
});

describe('unpickler', () => {
  const refuse = {
    findGlobal: (module: string, name: string) => {
      if (module === 'collections' && name === 'OrderedDict') return { kind: 'callable', name, call: () => new Map() };
      throw new Error(`unsupported pickle global ${module}.${name}`);
    },
    persistentLoad: () => {
      throw new Error('no persistent ids');
    },
  };

  test('protocol 4 values: FRAME, MEMOIZE, STACK_GLOBAL, LONG1, BINFLOAT, lists, tuples', () => {
    // pickle.dumps({'a': [1, 2.5, True, None, 2**70, -3, -300, 70000, False], 'b': ('x', 'y', 'z', 'w'),
    //               'c': collections.OrderedDict(k='v'), 'd': ('é',)}, protocol=4)
    const hex =
      '80049585000000000000007d94288c0161945d94284b01474004000000000000884e8a090000000000000000404afdffffff4ad4feffff4a7011010089658c016294288c0178948c0179948c017a948c01779474948c0163948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b948c017694738c0164948c02c3a9948594752e';
    const value = unpickle(Buffer.from(hex, 'hex'), refuse) as Map<string, unknown>;
    expect(value.get('a')).toEqual([1, 2.5, true, null, 2n ** 70n, -3, -300, 70000, false]);
    expect(value.get('b')).toEqual(['x', 'y', 'z', 'w']);
    expect(value.get('c')).toEqual(new Map([['k', 'v']]));
    expect(value.get('d')).toEqual(['é']);
  });

  test('malformed pickles fail cleanly', () => {
    expect(() => unpickle(Buffer.from('80027d', 'hex'), refuse)).toThrow(/bad pickle: truncated pickle/);
    expect(() => unpickle(Buffer.from('8002ff', 'hex'), refuse)).toThrow(/bad pickle: unsupported pickle opcode 0xff/);
    expect(() => unpickle(Buffer.from('80026805', 'hex'), refuse)).toThrow(/memo key 5 is not defined/);
    expect(() => unpickle(Buffer.from('8002742e', 'hex'), refuse)).toThrow(/no MARK/);
    expect(() => unpickle(Buffer.from('80022e', 'hex'), refuse)).toThrow(/stack underflow/);
    expect(() => unpickle(Buffer.from('8002636275696c74696e730a6576616c0a2e', 'hex'), refuse)).toThrow(
      'unsupported pickle global builtins.eval',
    );
  });
});

describe('hub model resolution', () => {
  const COMMIT = '0123456789abcdef0123456789abcdef01234567';

  function fakeCache(repoId: string, files: Record<string, string>): string {
    const cache = path.join(tmp, 'hub');
    const repo = path.join(cache, repoFolderName(repoId));
    const snapshot = path.join(repo, 'snapshots', COMMIT);
    fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
    fs.mkdirSync(path.join(repo, 'blobs'), { recursive: true });
    fs.mkdirSync(snapshot, { recursive: true });
    fs.writeFileSync(path.join(repo, 'refs', 'main'), COMMIT);
    Object.entries(files).forEach(([name, content], i) => {
      const blob = path.join(repo, 'blobs', `blob${i}`);
      fs.writeFileSync(blob, content);
      fs.symlinkSync(path.relative(snapshot, blob), path.join(snapshot, name));
    });
    return cache;
  }

  test('an existing directory is returned as is', async () => {
    await expect(resolveModelPath(TINY)).resolves.toBe(TINY);
  });

  test('finds a cached snapshot through refs/main, by option and by HF_HUB_CACHE', async () => {
    const cache = fakeCache('acme/tiny-bert', { 'config.json': '{}', 'model.safetensors': 'x' });
    const snapshot = path.join(cache, 'models--acme--tiny-bert', 'snapshots', COMMIT);
    await expect(resolveModelPath('acme/tiny-bert', { cacheDir: cache, offline: true })).resolves.toBe(snapshot);
    await expect(
      resolveModelPath('acme/tiny-bert', { cacheDir: cache, revision: COMMIT, offline: true }),
    ).resolves.toBe(snapshot);
    await withEnv({ HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' }, async () => {
      await expect(resolveModelPath('acme/tiny-bert')).resolves.toBe(snapshot);
    });
    await withEnv({ HF_HUB_CACHE: undefined, HF_HOME: tmp, HF_HUB_OFFLINE: '1' }, async () => {
      await expect(resolveModelPath('acme/tiny-bert')).resolves.toBe(snapshot);
    });
  });

  test('AutoTokenizer.fromPretrained resolves the same hub ids as the models (issue 13): the cached snapshot', () => {
    const base = BASE_MODEL_FILES;
    const read = (f: string) => fs.readFileSync(path.join(base, f), 'utf8');
    const cache = fakeCache('acme/tok-bert', {
      'config.json': read('config.json'),
      'model.safetensors': 'x',
      'vocab.txt': read('vocab.txt'),
      'tokenizer.json': read('tokenizer.json'),
      'tokenizer_config.json': read('tokenizer_config.json'),
    });
    const fromId = AutoTokenizer.fromPretrained('acme/tok-bert', { cacheDir: cache });
    const fromFolder = AutoTokenizer.fromPretrained(base);
    const text = 'Hello, wörld! Tokenizers resolve ids.';
    expect(fromId.encode(text)).toEqual(fromFolder.encode(text));
    expect(findCachedModelPath('acme/tok-bert', { cacheDir: cache })).toBe(
      path.join(cache, 'models--acme--tok-bert', 'snapshots', COMMIT),
    );
    expect(() => AutoTokenizer.fromPretrained('acme/not-here', { cacheDir: cache })).toThrow(
      `AutoTokenizer: acme/not-here is neither a folder nor a model in the Hugging Face cache at ${cache} (the model's fromPretrained downloads it)`,
    );
  });

  test('offline and not (completely) cached: a clear error', async () => {
    const cache = fakeCache('acme/no-weights', { 'config.json': '{}' });
    await expect(resolveModelPath('acme/no-weights', { cacheDir: cache, offline: true })).rejects.toThrow(
      /acme\/no-weights \(revision main\) is not in the Hugging Face cache .* offline mode is on/,
    );
    await withEnv({ HF_HUB_OFFLINE: '1' }, async () => {
      await expect(resolveModelPath('acme/unknown', { cacheDir: cache })).rejects.toThrow(/offline mode is on/);
    });
    await expect(
      resolveModelPath('acme/no-weights', { cacheDir: cache, offline: true, files: ['config.json'] }),
    ).resolves.toMatch(new RegExp(`snapshots/${COMMIT}$`));
  });

  test('an unreachable endpoint gives a clear error', async () => {
    await withEnv({ HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_OFFLINE: undefined }, async () => {
      await expect(resolveModelPath('acme/tiny-bert', { cacheDir: path.join(tmp, 'empty') })).rejects.toThrow(
        /could not download config\.json of acme\/tiny-bert from http:\/\/127\.0\.0\.1:9\/acme\/tiny-bert\/resolve\/main\/config\.json: .*ECONNREFUSED/,
      );
    });
  });

  test('not a directory and not a model id', async () => {
    await expect(resolveModelPath('./no/such/dir')).rejects.toThrow(
      /no such directory, and not a Hugging Face model id/,
    );
    await expect(resolveModelPath('acme/tiny', { revision: '../x', offline: true })).rejects.toThrow(
      /invalid revision/,
    );
  });

  test('downloads into the hub cache layout from local endpoints', async () => {
    const weights = fs.readFileSync(path.join(TINY, 'model.safetensors'));
    const LFS_SHA = 'ab'.repeat(32);
    const requests: string[] = [];
    const log = (req: http.IncomingMessage) => requests.push(`${req.url} ${req.headers.authorization ?? '-'}`);
    // A second server on another port plays the CDN the hub redirects LFS files to.
    const cdn = await listen((req, res) => {
      log(req);
      res.writeHead(200, { etag: '"cdn"', 'content-length': weights.length }).end(weights);
    });
    const hub = await listen((req, res) => {
      log(req);
      const headers = { 'x-repo-commit': COMMIT };
      if (req.url === '/acme/tiny-bert/resolve/main/config.json') {
        res.writeHead(200, { ...headers, etag: '"c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"' }).end('{"dim": 32}');
      } else if (req.url === `/acme/tiny-bert/resolve/${COMMIT}/vocab.txt`) {
        res.writeHead(200, { ...headers, etag: '"not a digest"' }).end('[PAD]\n');
      } else if (req.url === `/acme/tiny-bert/resolve/${COMMIT}/model.safetensors`) {
        res.writeHead(302, { ...headers, 'x-linked-etag': `"${LFS_SHA}"`, location: `${cdn.url}/lfs/blob` }).end();
      } else {
        res.writeHead(404).end();
      }
    });
    const cache = path.join(tmp, 'hub');
    try {
      await withEnv({ HF_ENDPOINT: hub.url, HF_TOKEN: 'secret', HF_HUB_OFFLINE: undefined }, async () => {
        const snapshot = await resolveModelPath('acme/tiny-bert', { cacheDir: cache });
        const repo = path.join(cache, 'models--acme--tiny-bert');
        expect(snapshot).toBe(path.join(repo, 'snapshots', COMMIT));
        expect(fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8')).toBe(COMMIT);
        expect(fs.readlinkSync(path.join(snapshot, 'model.safetensors'))).toBe(`../../blobs/${LFS_SHA}`);
        expect(fs.readlinkSync(path.join(snapshot, 'config.json'))).toBe(
          '../../blobs/c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
        );
        // An etag that is not a digest is not trusted as a file name: the blob is named by its sha256.
        expect(fs.readlinkSync(path.join(snapshot, 'vocab.txt'))).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
        expect(fs.readFileSync(path.join(snapshot, 'vocab.txt'), 'utf8')).toBe('[PAD]\n');
        expect(fs.readdirSync(path.join(repo, 'blobs')).filter((f) => f.startsWith('.'))).toEqual([]);
        expect(fs.existsSync(path.join(snapshot, 'tokenizer.json'))).toBe(false);
        expectSameTensors(
          loadCheckpointFolder(snapshot).tensors,
          readSafetensors(path.join(TINY, 'model.safetensors')).tensors,
        );

        const asked = requests.length;
        await expect(resolveModelPath('acme/tiny-bert', { cacheDir: cache })).resolves.toBe(snapshot);
        expect(requests.length).toBe(asked); // served from the cache
      });
    } finally {
      hub.server.close();
      cdn.server.close();
    }
    expect(requests).toContain('/acme/tiny-bert/resolve/main/config.json Bearer secret');
    expect(requests).toContain('/lfs/blob -'); // the token stays with the hub
  });

  test('a missing required file is an error naming it', async () => {
    const hub = await listen((_req, res) => res.writeHead(404).end());
    try {
      await withEnv({ HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: undefined }, async () => {
        await expect(resolveModelPath('acme/gone', { cacheDir: path.join(tmp, 'hub') })).rejects.toThrow(
          /could not download config\.json of acme\/gone from .*: HTTP 404/,
        );
      });
    } finally {
      hub.server.close();
    }
  });
});

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('reading whole weights files', () => {
  test('the native reader gives exactly the bytes Node reads, and names the file and the reason when it cannot', () => {
    const file = path.join(TINY, 'model.safetensors');
    expect(readWholeFile(file).equals(fs.readFileSync(file))).toBe(true);
    const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'empty-')), 'empty.bin');
    fs.writeFileSync(empty, '');
    expect(readWholeFile(empty).length).toBe(0);
    expect(() => readWholeFile('/nonexistent/model.safetensors')).toThrow(
      /\/nonexistent\/model.safetensors: .*No such file/,
    );
    expect(() => readWholeFile(os.tmpdir())).toThrow(new RegExp(`${os.tmpdir()}: `));
  });
});
