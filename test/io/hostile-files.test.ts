// Issue 14's attacks on the checkpoint readers, each rebuilt here as a small crafted file: pickles that would grow
// V8's arrays past its fatal limit, zip bombs, stride-0 views, exponential error text. Every one must end in a
// clear Error naming the file, quickly and without the memory it asks for.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { gzipSync } from 'node:zlib';
import {
  readSafetensors,
  parseTorchCheckpoint,
  readTorchCheckpoint,
  loadStateDictFile,
  unpickle,
  DEFAULT_UNPICKLE_LIMITS,
} from '../../lib/io';
import { DistilBertForSequenceClassification, distilBertConfig } from '../../lib/models/distilbert';
import { loadCsv, loadJsonl } from '../../lib/data/tabular';
import { MAX_CLASSES } from '../../lib/data/dataset';
import { runFinetuneJob } from '../../lib/recipes/finetune-job';
import { readTarEntries, DEFAULT_MAX_ENTRY_BYTES } from '../../lib/data/tar';
import { base256SizeHeader, paxHeaderEntry, tarArchive, tarEntry, tarHeader } from '../helpers/tar-writer';
import { Pickler, deflatedRepeat, stateDictPickle, torchArchive } from '../helpers/torch-zip';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torch-lora-hostile-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const MiB = 1 << 20;
const write = (name: string, data: Buffer) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, data);
  return file;
};

/** Runs fn, which must throw; returns the error, checking it came fast and without a large allocation. */
function refusal(fn: () => unknown, { seconds = 5, rssMiB = 512 } = {}): Error {
  const rss = process.memoryUsage().rss;
  const start = process.hrtime.bigint();
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  expect(error).toBeInstanceOf(Error);
  expect(elapsed).toBeLessThan(seconds);
  expect((process.memoryUsage().rss - rss) / MiB).toBeLessThan(rssMiB);
  expect((error as Error).message.length).toBeLessThan(2000);
  return error as Error;
}

const floats = (values: number[]) => {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
};

// Pickles of millions of opcodes that reach a limit: the bound is that they end in an error, in time linear in their
// size (about 1 s here, alone; generous for a loaded machine).
const BIG_INPUT = { seconds: 20, rssMiB: 1500 };

/** A data.pkl of `count` repetitions of `unit` after the protocol header (never reaching STOP). */
const repeatedPickle = (unit: number[], count: number, prefix: number[] = []) => {
  const body = Buffer.alloc(unit.length * count);
  for (let i = 0; i < count; i++) body.set(unit, i * unit.length);
  return Buffer.concat([Buffer.from([0x80, 0x02, ...prefix]), body]);
};

describe('item 1: the unpickler bounds its stack, memo, containers and integers', () => {
  test('a 150 MB data.pkl of "push None" deflated into a 150 KB file is refused before inflating', () => {
    const file = write(
      'pytorch_model.bin',
      torchArchive({
        name: '',
        data: Buffer.alloc(0),
        deflate: true,
        raw: deflatedRepeat(0x4e, 150),
        declaredSize: 150 * MiB,
      }),
    );
    expect(fs.statSync(file).size).toBeLessThan(200_000);
    const e = refusal(() => readTorchCheckpoint(file), { rssMiB: 64 });
    expect(e.message).toMatch(
      new RegExp(`^${file}: .*data\\.pkl declares ${150 * MiB} bytes once inflated, more than the \\d+ allowed`),
    );
  });

  test('"push None" beyond the stack limit', () => {
    const file = write('nones.bin', torchArchive(repeatedPickle([0x4e], DEFAULT_UNPICKLE_LIMITS.maxStack + 10)));
    expect(refusal(() => readTorchCheckpoint(file)).message).toMatch(
      new RegExp(`^${file}: bad pickle: more than ${DEFAULT_UNPICKLE_LIMITS.maxStack} values on the stack`),
    );
  });

  test('list appends beyond the item limit', () => {
    const file = write(
      'appends.bin',
      torchArchive(repeatedPickle([0x4e, 0x61], DEFAULT_UNPICKLE_LIMITS.maxItems + 10, [0x5d])),
    );
    expect(refusal(() => readTorchCheckpoint(file), BIG_INPUT).message).toMatch(
      new RegExp(
        `^${file}: bad pickle: more than ${DEFAULT_UNPICKLE_LIMITS.maxItems} items in lists, tuples and dicts`,
      ),
    );
  });

  test('dict entries count too', () => {
    // {}, then (BININT i, None, SETITEM) with fresh keys
    const n = DEFAULT_UNPICKLE_LIMITS.maxItems / 2 + 10;
    const body = Buffer.alloc(n * 7);
    for (let i = 0; i < n; i++) {
      body[i * 7] = 0x4a;
      body.writeInt32LE(i, i * 7 + 1);
      body[i * 7 + 5] = 0x4e;
      body[i * 7 + 6] = 0x73;
    }
    const pickle = Buffer.concat([Buffer.from([0x80, 0x02, 0x7d]), body]);
    expect(
      refusal(
        () =>
          unpickle(pickle, {
            findGlobal: () => {
              throw new Error('no');
            },
            persistentLoad: () => null,
          }),
        BIG_INPUT,
      ).message,
    ).toMatch(/bad pickle: more than \d+ items/);
  });

  test('memo entries beyond the memo limit', () => {
    const file = write('memo.bin', torchArchive(repeatedPickle([0x94], DEFAULT_UNPICKLE_LIMITS.maxMemo + 10, [0x4e])));
    expect(refusal(() => readTorchCheckpoint(file), BIG_INPUT).message).toMatch(
      new RegExp(`^${file}: bad pickle: more than ${DEFAULT_UNPICKLE_LIMITS.maxMemo} memo entries`),
    );
  });

  test('a megabyte-long integer', () => {
    const head = Buffer.from([0x80, 0x02, 0x8b, 0, 0, 0, 0]);
    head.writeUInt32LE(MiB, 3);
    const file = write('long.bin', torchArchive(Buffer.concat([head, Buffer.alloc(MiB, 0xff), Buffer.from([0x2e])])));
    expect(refusal(() => readTorchCheckpoint(file)).message).toMatch(
      new RegExp(`^${file}: bad pickle: integer of ${MiB} bytes`),
    );
  });

  test('APPENDS of many items does not overflow the call stack', () => {
    // [], MARK, 500,000 x None, APPENDS, STOP: one spread of that many arguments is a RangeError
    const pickle = Buffer.concat([repeatedPickle([0x4e], 500_000, [0x5d, 0x28]), Buffer.from([0x65, 0x2e])]);
    const hooks = {
      findGlobal: () => {
        throw new Error('no');
      },
      persistentLoad: () => null,
    };
    expect((unpickle(pickle, hooks) as unknown[]).length).toBe(500_000);
  });

  test('a deflated data.pkl that inflates beyond its declared size', () => {
    const file = write(
      'lying.bin',
      torchArchive({
        name: '',
        data: Buffer.alloc(0),
        deflate: true,
        raw: deflatedRepeat(0x4e, 100),
        declaredSize: 1000,
      }),
    );
    expect(refusal(() => readTorchCheckpoint(file), { rssMiB: 64 }).message).toMatch(
      new RegExp(
        `^${file}: corrupt or truncated ZIP archive: entry archive/data.pkl inflates to more than its declared 1000 bytes`,
      ),
    );
  });
});

describe('item 4: compressed storages inflate to their declared size at most, within a budget', () => {
  const bombArchive = (mib: number, declared: number, numel = declared) =>
    torchArchive(
      stateDictPickle([{ name: 'w', storage: '0', storageType: 'ByteStorage', storageNumel: numel, shape: [numel] }]),
      { '0': { data: Buffer.alloc(0), deflate: true, raw: deflatedRepeat(0, mib), declaredSize: declared } },
    );

  test('a 4 MB file declaring a 4 GB storage: parsed lazily, refused when its data is asked for', () => {
    const declared = 4095 * MiB;
    const file = write('bomb.bin', bombArchive(4095, declared));
    expect(fs.statSync(file).size).toBeLessThan(5 * MiB);
    const sd = readTorchCheckpoint(file);
    expect(sd.get('w')!.shape).toEqual([declared]);
    const e = refusal(() => sd.get('w')!.data, { rssMiB: 64 });
    expect(e.message).toMatch(
      new RegExp(
        `^${file}: storage archive/data/0 would inflate to ${declared} bytes, beyond 16 times the archive's size; refusing a likely zip bomb`,
      ),
    );
  });

  test('a storage that inflates to more than it declares', () => {
    const file = write('liar.bin', bombArchive(1024, 1000));
    const e = refusal(() => loadStateDictFile(file).get('w')!.data, { rssMiB: 64 });
    expect(e.message).toMatch(
      new RegExp(
        `^${file}: corrupt or truncated ZIP archive: entry archive/data/0 inflates to more than its declared 1000 bytes`,
      ),
    );
  });

  test('a storage that inflates to less than it declares', () => {
    const file = write('short.bin', bombArchive(1, 2 * MiB));
    expect(refusal(() => loadStateDictFile(file).get('w')!.data).message).toMatch(
      /inflates to 1048576 bytes, expected 2097152/,
    );
  });

  test('a storage entry whose size differs from what the pickle says', () => {
    const file = write(
      'mismatch.bin',
      torchArchive(stateDictPickle([{ name: 'w', storage: '0', storageNumel: 4, shape: [4] }]), {
        '0': floats([1, 2]),
      }),
    );
    expect(refusal(() => readTorchCheckpoint(file)).message).toMatch(
      new RegExp(`^${file}: storage archive/data/0 has 8 bytes, 4 float32 elements need 16`),
    );
  });

  test('honest deflated storages still load', () => {
    const values = [1, -2, 3.5, 4];
    const file = write(
      'deflated.bin',
      torchArchive(stateDictPickle([{ name: 'w', storage: '0', storageNumel: 4, shape: [2, 2] }]), {
        '0': { data: floats(values), deflate: true },
      }),
    );
    expect([...new Float32Array(new Uint8Array(readTorchCheckpoint(file).get('w')!.data).buffer)]).toEqual(values);
  });
});

describe('item 5: views must fit their storage, and tensors are checked against the model before their bytes are read', () => {
  test('a 1 GiB stride-0 view of one float is refused', () => {
    const file = write(
      'stride0.bin',
      torchArchive(stateDictPickle([{ name: 'w', storage: '0', storageNumel: 1, shape: [1 << 28], stride: [0] }]), {
        '0': floats([7]),
      }),
    );
    expect(fs.statSync(file).size).toBeLessThan(1000);
    expect(refusal(() => readTorchCheckpoint(file), { rssMiB: 64 }).message).toMatch(
      new RegExp(
        `^${file}: tensor view \\(offset 0, shape \\[268435456\\], stride \\[0\\]\\) has more elements than its storage archive/data/0 \\(1\\)`,
      ),
    );
  });

  test('three 4 GiB stride-0 views in a small file are refused', () => {
    const specs = ['a', 'b', 'c'].map((name) => ({
      name,
      storage: '0',
      storageNumel: 2,
      shape: [1 << 15, 1 << 15],
      stride: [0, 0],
    }));
    const file = write('stride0x3.bin', torchArchive(stateDictPickle(specs), { '0': floats([1, 2]) }));
    expect(refusal(() => readTorchCheckpoint(file), { rssMiB: 64 }).message).toMatch(
      /has more elements than its storage/,
    );
  });

  test('a view running past its storage is refused', () => {
    const file = write(
      'past.bin',
      torchArchive(
        stateDictPickle([{ name: 'w', storage: '0', storageNumel: 4, offset: 2, shape: [2], stride: [2] }]),
        { '0': floats([1, 2, 3, 4]) },
      ),
    );
    expect(refusal(() => readTorchCheckpoint(file)).message).toMatch(
      /exceeds its storage archive\/data\/0 of 4 elements/,
    );
  });

  test("a legitimate strided view (a transpose) still loads with PyTorch's values", () => {
    // torch.load of this file gives [[0, 3], [1, 4], [2, 5]]: the transpose of arange(6).view(2, 3)
    const file = write(
      't.bin',
      torchArchive(stateDictPickle([{ name: 't', storage: '0', storageNumel: 6, shape: [3, 2], stride: [1, 3] }]), {
        '0': floats([0, 1, 2, 3, 4, 5]),
      }),
    );
    const t = readTorchCheckpoint(file).get('t')!;
    expect([...new Float32Array(new Uint8Array(t.data).buffer)]).toEqual([0, 3, 1, 4, 2, 5]);
  });

  const tinyModel = (checkpoint: Buffer) => {
    const dir = path.join(tmp, 'model');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({
        model_type: 'distilbert',
        vocab_size: 20,
        max_position_embeddings: 16,
        dim: 8,
        n_layers: 1,
        n_heads: 2,
        hidden_dim: 16,
      }),
    );
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), checkpoint);
    return dir;
  };
  // A storage whose bytes do not inflate at all: any attempt to read them fails with "does not inflate".
  const unreadable = (numel: number) => ({
    data: Buffer.alloc(0),
    deflate: true,
    raw: Buffer.from([0xff, 0xff, 0xff]),
    declaredSize: numel * 4,
  });

  test("a wrong shape is reported before the tensor's bytes are read", async () => {
    const dir = tinyModel(
      torchArchive(
        stateDictPickle([
          { name: 'distilbert.embeddings.word_embeddings.weight', storage: '0', storageNumel: 20 * 9, shape: [20, 9] },
        ]),
        { '0': unreadable(20 * 9) },
      ),
    );
    await expect(DistilBertForSequenceClassification.fromPretrained(dir)).rejects.toThrow(
      /size mismatch for distilbert\.embeddings\.word_embeddings\.weight: checkpoint has \[20,9\], the model needs \[20,8\]/,
    );
  });

  test("a wrong dtype kind is reported before the tensor's bytes are read", async () => {
    const dir = tinyModel(
      torchArchive(
        stateDictPickle([
          {
            name: 'distilbert.embeddings.word_embeddings.weight',
            storage: '0',
            storageType: 'IntStorage',
            storageNumel: 160,
            shape: [20, 8],
          },
        ]),
        { '0': unreadable(160) },
      ),
    );
    await expect(DistilBertForSequenceClassification.fromPretrained(dir)).rejects.toThrow(
      /dtype mismatch for distilbert\.embeddings\.word_embeddings\.weight: checkpoint has int32, the model needs float32/,
    );
  });

  test('tensors the model does not use are never read', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const dir = tinyModel(
        torchArchive(stateDictPickle([{ name: 'unused.weight', storage: '0', storageNumel: 4, shape: [4] }]), {
          '0': unreadable(4),
        }),
      );
      const model = await DistilBertForSequenceClassification.fromPretrained(dir);
      expect(model.loadingInfo.unexpectedKeys).toEqual(['distilbert.unused.weight']);
      model.dispose();
    } finally {
      warn.mockRestore();
    }
  });
});

describe('item 6: error descriptions are bounded whatever the pickle shares', () => {
  // None, then 60 x (DUP, TUPLE2): a value whose text would be 2^60 items long
  const sharedDepth = (p: Pickler, levels = 60) => {
    p.op(0x4e);
    for (let i = 0; i < levels; i++) p.op(0x32, 0x86);
    return p;
  };
  const hooks = {
    findGlobal: (module: string, name: string) => ({
      kind: 'callable',
      name: `${module}.${name}`,
      call: () => new Map(),
    }),
    persistentLoad: () => null,
  };

  test('REDUCE on a non-callable shared structure', () => {
    const pickle = sharedDepth(new Pickler()).op(0x29, 0x52).stop();
    expect(pickle.length).toBeLessThan(200);
    expect(refusal(() => unpickle(pickle, hooks)).message).toMatch(
      /^bad pickle: REDUCE on \[\[\[.*…, which is not callable$/,
    );
  });

  test('in a checkpoint: a shared structure as a dict key, as a storage id and as tensor arguments', () => {
    const asKey = sharedDepth(new Pickler().op(0x7d)).op(0x4e, 0x73).stop();
    const asPid = sharedDepth(new Pickler()).op(0x51).stop();
    const asArgs = sharedDepth(new Pickler().global('torch._utils', '_rebuild_tensor_v2')).op(0x52).stop();
    const asBuild = sharedDepth(new Pickler().op(0x4e)).op(0x4e, 0x62).stop();
    for (const [name, pickle, message] of [
      ['key.bin', asKey, /state dict key \[\[.*… is not a string/],
      ['pid.bin', asPid, /unsupported persistent id \[\[.*…$/],
      ['args.bin', asArgs, /_rebuild_tensor_v2 got \[\[.*… for a storage/],
      ['build.bin', asBuild, /bad pickle: BUILD on \[\[.*… is not supported/],
    ] as const) {
      const file = write(name, torchArchive(pickle));
      const e = refusal(() => readTorchCheckpoint(file));
      expect(e.message).toMatch(message);
      expect(e.message.startsWith(`${file}: `)).toBe(true);
    }
  });

  test('a non-tuple of shared structure given to a callable', () => {
    const pickle = sharedDepth(new Pickler().global('collections', 'OrderedDict')).op(0x52).stop();
    expect(refusal(() => parseTorchCheckpoint(torchArchive(pickle), 'x.bin')).message).toMatch(
      /^x\.bin: OrderedDict\(\) with arguments is not supported/,
    );
  });
});

describe('item 3: labels are class ids 0..K-1 (K bounded) or names, checked with file and line', () => {
  test('a CSV or JSONL label of 1e8 or 4e9 is refused, naming the line', () => {
    for (const huge of ['100000000', '4000000000']) {
      const csv = write('huge.csv', `text,label\ngood,1\nbad,${huge}\n`);
      expect(refusal(() => loadCsv(csv), { rssMiB: 64 }).message).toBe(
        `${csv}:3: label ${huge} is beyond the ${MAX_CLASSES} classes allowed (integer labels are class ids 0..K-1)`,
      );
    }
    const jsonl = write('huge.jsonl', '{"text": "a", "label": 0}\n{"text": "b", "label": 1e8}\n');
    expect(refusal(() => loadJsonl(jsonl)).message).toMatch(new RegExp(`^${jsonl}:2: label 100000000 is beyond`));
  });

  test('a text column taken for labels (one class per row) is refused at the first row too many', () => {
    const rows = Array.from({ length: MAX_CLASSES + 5 }, (_, i) => `x,name ${i}`).join('\n');
    const csv = write('names.csv', `text,label\n${rows}\n`);
    expect(refusal(() => loadCsv(csv)).message).toBe(
      `${csv}:${MAX_CLASSES + 2}: more than ${MAX_CLASSES} distinct labels (classes) by this line; is the label column the right one?`,
    );
  });

  test('inline examples: 150,000 load (no Math.max spread), a huge label is refused naming the example', async () => {
    const many = Array.from({ length: 150_000 }, (_, i) => ({ text: 't', label: i % 3 }));
    // The data is checked before the model is read: the model path is never reached.
    await expect(runFinetuneJob({ model: path.join(tmp, 'no-model'), data: { train: many } })).rejects.toThrow(
      /no-model/,
    );
    const bad = [...many.slice(0, 10), { text: 't', label: 1e8 }];
    await expect(runFinetuneJob({ model: 'm', data: { train: [{ text: 'a', label: 0 }], test: bad } })).rejects.toThrow(
      `finetune job: data.test[10]: label 100000000 is beyond the ${MAX_CLASSES} classes allowed`,
    );
    await expect(runFinetuneJob({ model: 'm', data: { train: [{ text: 'a', label: 0.5 }] } })).rejects.toThrow(
      'finetune job: data.train[0]: label 0.5 is not a class id',
    );
  });
});

describe('item 15: config.json fields are checked by type and range; safetensors headers may not repeat a key', () => {
  const TINY = {
    model_type: 'distilbert',
    vocab_size: 20,
    max_position_embeddings: 16,
    dim: 8,
    n_layers: 1,
    n_heads: 2,
    hidden_dim: 16,
  };
  const folderWithConfig = (config: string) => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cfg-'));
    fs.writeFileSync(path.join(dir, 'config.json'), config);
    return dir;
  };
  const cases: [string, string, string][] = [
    [
      'n_layers as a string',
      JSON.stringify({ ...TINY, n_layers: '2' }),
      'field "n_layers" must be an integer from 1 to 256, got "2"',
    ],
    ['no layers', JSON.stringify({ ...TINY, n_layers: 0 }), 'field "n_layers" must be an integer from 1 to 256, got 0'],
    [
      'negative heads',
      JSON.stringify({ ...TINY, n_heads: -4 }),
      'field "n_heads" must be an integer from 1 to 8, got -4',
    ],
    [
      'heads not dividing dim',
      JSON.stringify({ ...TINY, n_heads: 3 }),
      'field "n_heads" must be a divisor of dim (8), got 3',
    ],
    [
      'dim as a string',
      JSON.stringify({ ...TINY, dim: '32' }),
      'field "dim" must be an integer from 1 to 65536, got "32"',
    ],
    [
      'a fractional vocabulary',
      JSON.stringify({ ...TINY, vocab_size: 20.5 }),
      'field "vocab_size" must be an integer from 1 to 4194304, got 20.5',
    ],
    ['a dropout of 2', JSON.stringify({ ...TINY, dropout: 2 }), 'field "dropout" must be a number from 0 to 1, got 2'],
    [
      'an unknown activation',
      JSON.stringify({ ...TINY, activation: 'swish' }),
      'field "activation" must be one of "gelu", "relu", got "swish"',
    ],
    [
      'a padding id outside the vocabulary',
      JSON.stringify({ ...TINY, pad_token_id: 20 }),
      'field "pad_token_id" must be an integer from 0 to 19, got 20',
    ],
    [
      'id2label as a list',
      JSON.stringify({ ...TINY, id2label: ['a', 'b'] }),
      'field "id2label" must be an object {"0": name, ...}, got ["a", "b"]',
    ],
    [
      'terabytes of parameters',
      JSON.stringify({ ...TINY, dim: 65536, n_heads: 1, hidden_dim: 262144, n_layers: 200 }),
      'field "dim" must be small enough for at most 4000000000 parameters',
    ],
    ['another model type', JSON.stringify({ ...TINY, model_type: 'bert' }), 'model_type is "bert", not "distilbert"'],
    ['null', 'null', 'expected a JSON object of config fields, got null'],
    ['an array', '[1,2]', 'expected a JSON object of config fields, got [1, 2]'],
    [
      'a field given twice',
      '{"model_type":"distilbert","n_layers":2,"dim":32,"n_layers":0}',
      'field "n_layers" appears twice',
    ],
  ];
  test.each(cases)('%s', async (_name, config, message) => {
    const dir = folderWithConfig(config);
    const error = await DistilBertForSequenceClassification.fromPretrained(dir).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message.startsWith(`${path.join(dir, 'config.json')}: ${message}`)).toBe(true);
  });

  test('a config in code is checked the same way', () => {
    expect(() => distilBertConfig({ n_layers: '2' as unknown as number })).toThrow(
      'DistilBertConfig: field "n_layers" must be an integer from 1 to 256, got "2"',
    );
    expect(() => distilBertConfig({ num_labels: 1e8 })).toThrow(
      'DistilBertConfig: num_labels must be an integer from 1 to 10000, got 100000000',
    );
  });

  const withHeader = (header: string, dataBytes: number) => {
    const json = Buffer.from(header);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([length, json, Buffer.alloc(dataBytes)]);
  };
  test('a safetensors header naming a tensor twice, or a field twice, is refused', () => {
    const twice = write(
      'twice.safetensors',
      withHeader(
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
        8,
      ),
    );
    expect(refusal(() => readSafetensors(twice)).message).toBe(`${twice}: header names "a" twice`);
    const field = write(
      'field.safetensors',
      withHeader('{"w":{"dtype":"F32","dtype":"I8","shape":[1],"data_offsets":[0,4]}}', 4),
    );
    expect(refusal(() => readSafetensors(field)).message).toBe(`${field}: header names "w.dtype" twice`);
    const escaped = write(
      'escaped.safetensors',
      withHeader(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"\\u0061":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        2,
      ),
    );
    expect(refusal(() => readSafetensors(escaped)).message).toBe(`${escaped}: header names "a" twice`);
    // Keys that look alike but differ, and repeated keys in different objects, are fine.
    const fine = write(
      'fine.safetensors',
      withHeader(
        '{"__metadata__":{"dtype":"x"},"a\\"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        2,
      ),
    );
    expect([...readSafetensors(fine).tensors.keys()].sort()).toEqual(['a', 'a"']);
  });
});

describe('item 19: tar and tar.gz errors name the archive and the entry', () => {
  const sample = () =>
    tarArchive(tarEntry('a.txt', 'alpha'), tarEntry('b.bin', Buffer.alloc(3000, 7)), tarEntry('c.txt', 'gamma'));
  const readAll = (source: string | Buffer, filter?: (h: { name: string }) => boolean) =>
    readTarEntries(source, { filter });

  /** The archive's error, checking it came fast and named the file. */
  async function tarRefusal(source: string, promise: Promise<unknown>, seconds = 3): Promise<string> {
    const start = Date.now();
    const error = await promise.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(Date.now() - start).toBeLessThan(seconds * 1000);
    expect(error!.message.startsWith(`${source}: `)).toBe(true);
    return error!.message.slice(source.length + 2);
  }

  test('garbage, as a tar and as a gzip', async () => {
    const plain = write('garbage.tar.gz', Buffer.alloc(2048, 65));
    expect(await tarRefusal(plain, readAll(plain))).toBe(
      'bad tar header checksum (not a tar archive, or it is corrupt) (at byte 0)',
    );
    const gz = write('garbage2.tar.gz', Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(100, 0x55)]));
    expect(await tarRefusal(gz, readAll(gz))).toMatch(/^gzip data is corrupt or truncated \(.+\) at byte 0$/);
  });

  test('truncated, in the middle of an entry', async () => {
    const cut = write('cut.tar', sample().subarray(0, 2000));
    expect(await tarRefusal(cut, readAll(cut))).toBe(
      "archive is truncated, 2536 bytes of its data missing (at byte 2000 in entry 'b.bin')",
    );
    const gz = gzipSync(Buffer.concat([sample(), Buffer.alloc(0)]));
    const cutGz = write('cut.tar.gz', gz.subarray(0, gz.length - 30));
    expect(await tarRefusal(cutGz, readAll(cutGz))).toMatch(
      /^gzip data is corrupt or truncated \(unexpected end of file\) at byte \d+ (in|after) entry '[abc]\.(txt|bin)'$/,
    );
  });

  test('a pax size of -5 or NaN', async () => {
    for (const size of ['-5', 'NaN', '1e3']) {
      const file = write(
        'pax.tar',
        tarArchive(tarEntry('a.txt', 'alpha'), paxHeaderEntry([['size', size]]), tarEntry('b.txt', 'beta')),
      );
      expect(await tarRefusal(file, readAll(file))).toBe(
        `pax header gives size "${size}", not a byte count (at byte 1536 in entry 'PaxHeaders/x')`,
      );
    }
    const broken = write('pax-record.tar', tarArchive(tarEntry('PaxHeaders/y', '99 path=x\n', 'x')));
    expect(await tarRefusal(broken, readAll(broken))).toBe(
      "malformed pax record at byte 0 of the pax header (at byte 512 in entry 'PaxHeaders/y')",
    );
  });

  test('a 1 TiB entry: refused when it would be read into memory, truncated when skipped', async () => {
    const TiB = 1n << 40n;
    const file = write('huge.tar', tarArchive(tarEntry('a.txt', 'alpha'), base256SizeHeader('big.txt', TiB)));
    expect(await tarRefusal(file, readAll(file))).toBe(
      `entry is ${TiB} bytes, more than the ${DEFAULT_MAX_ENTRY_BYTES} read into memory (at byte 1024 in entry 'big.txt')`,
    );
    expect(
      await tarRefusal(
        file,
        readAll(file, ({ name }) => name !== 'big.txt'),
      ),
    ).toBe(`archive is truncated, ${TiB - 1024n} bytes of its data missing (at byte 2560 in entry 'big.txt')`);
    const beyond = write('beyond.tar', tarArchive(base256SizeHeader('x.txt', 1n << 80n)));
    expect(await tarRefusal(beyond, readAll(beyond))).toBe("entry 'x.txt' has an invalid size field (at byte 0)");
  });

  test('a gzip bomb entry: refused by its size when kept, by the inflation ratio when skipped', async () => {
    // gzip header, then a deflate stream of the entry's header block and 1 GiB of zeros (about 1 MB compressed)
    const header = zlib.deflateRawSync(tarHeader({ name: 'bomb.txt', size: 1 << 30, type: '0' }), {
      finishFlush: zlib.constants.Z_FULL_FLUSH,
    });
    const bomb = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
      header,
      deflatedRepeat(0, 1024),
      Buffer.alloc(8),
    ]);
    const file = write('bomb.tar.gz', bomb);
    expect(fs.statSync(file).size).toBeLessThan(1.1 * MiB);
    expect(
      await tarRefusal(
        file,
        readAll(file, () => true),
        1,
      ),
    ).toBe(
      `entry is ${1 << 30} bytes, more than the ${DEFAULT_MAX_ENTRY_BYTES} read into memory (at byte 0 in entry 'bomb.txt')`,
    );
    const rss = process.memoryUsage().rss;
    expect(
      await tarRefusal(
        file,
        readAll(file, () => false),
        5,
      ),
    ).toMatch(
      /^gzip data inflates more than 200 times over \(\d+ bytes from \d+\); refusing a likely gzip bomb at byte \d+ in entry 'bomb\.txt'$/,
    );
    expect(process.memoryUsage().rss - rss).toBeLessThan(128 * MiB);
    await expect(readAll(bomb, () => false)).rejects.toThrow(/^<buffer>: gzip data inflates more than 200 times over/);
  });
});

test('describing a checkpoint tensor in an error does not read its bytes', () => {
  // REDUCE on a tensor: the message describes it, and its storage (which does not inflate) is never touched
  const p = stateDictPickle([{ name: 'w', storage: '0', storageNumel: 4, shape: [4] }]);
  // take the pickle up to the SETITEMS (its stack then holds the dict, MARK, 'w', tensor) and call the tensor
  const pickle = Buffer.concat([p.subarray(0, p.length - 2), Buffer.from([0x29, 0x52, 0x2e])]);
  const file = write(
    'lazy.bin',
    torchArchive(pickle, {
      0: { data: Buffer.alloc(0), deflate: true, raw: Buffer.from([0xff, 0xff]), declaredSize: 16 },
    }),
  );
  expect(refusal(() => readTorchCheckpoint(file)).message).toBe(
    `${file}: bad pickle: REDUCE on {"dtype": "float32", "shape": [4], "data": …}, which is not callable`,
  );
});
