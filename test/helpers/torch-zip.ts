// Crafting torch.save-style files in tests: a ZIP writer (stored or deflated entries, any declared size) and a pickle
// writer for state dicts, so that each hostile file is built by the test that uses it, a few bytes to a few MB.
import * as zlib from 'node:zlib';

export interface ZipInput {
  name: string;
  data: Buffer;
  /** Deflate the data (or give `raw` already deflated). */
  deflate?: boolean;
  /** The compressed bytes as written, when deflate is set; default deflateRawSync(data). */
  raw?: Buffer;
  /** The uncompressed size written in the headers; default data.length. */
  declaredSize?: number;
}

let crcTable: Uint32Array | undefined;
function crc32(buf: Buffer): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A ZIP archive of the entries, in order (32-bit sizes: no ZIP64). */
export function zipArchive(entries: ZipInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const body = e.deflate ? (e.raw ?? zlib.deflateRawSync(e.data)) : e.data;
    const size = e.declaredSize ?? e.data.length;
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(e.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const dir = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(dir.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, eocd]);
}

/**
 * A raw deflate stream of `mib` MiB of the byte `fill`, built from one compressed MiB (each block is flushed and
 * independent), so a multi-GB bomb costs the test a millisecond and about 1 KB per GB.
 */
export function deflatedRepeat(fill: number, mib: number): Buffer {
  const block = zlib.deflateRawSync(Buffer.alloc(1 << 20, fill), { finishFlush: zlib.constants.Z_FULL_FLUSH });
  const finalEmptyBlock = Buffer.from([0x03, 0x00]);
  return Buffer.concat([...Array.from({ length: mib }, () => block), finalEmptyBlock]);
}

/** Writes pickle opcodes (protocol 2). */
export class Pickler {
  private readonly parts: Buffer[] = [Buffer.from([0x80, 0x02])];

  op(...bytes: number[]): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }

  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= -(2 ** 31) && v < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(v, 1);
      return this.raw(b);
    }
    const b = Buffer.alloc(10);
    b[0] = 0x8a;
    b[1] = 8;
    b.writeBigInt64LE(BigInt(v), 2);
    return this.raw(b);
  }

  str(s: string): this {
    const text = Buffer.from(s);
    const head = Buffer.alloc(5);
    head[0] = 0x58;
    head.writeUInt32LE(text.length, 1);
    return this.raw(Buffer.concat([head, text]));
  }

  global(module: string, name: string): this {
    return this.raw(Buffer.from(`c${module}\n${name}\n`));
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  ints(values: number[]): this {
    this.mark();
    values.forEach((v) => this.int(v));
    return this.tuple();
  }
  stop(): Buffer {
    this.op(0x2e);
    return Buffer.concat(this.parts);
  }
}

export interface TensorSpec {
  name: string;
  /** Storage key (the entry archive/data/<key>). */
  storage: string;
  /** Torch storage class: FloatStorage, LongStorage, ... */
  storageType?: string;
  storageNumel: number;
  offset?: number;
  shape: number[];
  stride?: number[];
}

function contiguousStride(shape: number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d];
  }
  return stride;
}

/** The data.pkl of a state dict {name: _rebuild_tensor_v2(storage, offset, shape, stride, False, OrderedDict())}. */
export function stateDictPickle(tensors: TensorSpec[]): Buffer {
  const p = new Pickler().op(0x7d).mark();
  for (const t of tensors) {
    p.str(t.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark()
      .str('storage')
      .global('torch', t.storageType ?? 'FloatStorage')
      .str(t.storage)
      .str('cpu')
      .int(t.storageNumel)
      .tuple()
      .op(0x51);
    p.int(t.offset ?? 0)
      .ints(t.shape)
      .ints(t.stride ?? contiguousStride(t.shape))
      .op(0x89);
    p.global('collections', 'OrderedDict').op(0x29, 0x52);
    p.tuple().op(0x52);
  }
  return p.op(0x75).stop();
}

/** A torch.save archive: archive/data.pkl plus the given storages (stored unless the input says otherwise). */
export function torchArchive(
  pickle: Buffer | ZipInput,
  storages: Record<string, Buffer | Omit<ZipInput, 'name'>> = {},
): Buffer {
  const pkl: ZipInput = Buffer.isBuffer(pickle)
    ? { name: 'archive/data.pkl', data: pickle }
    : { ...pickle, name: 'archive/data.pkl' };
  const entries: ZipInput[] = [pkl, { name: 'archive/version', data: Buffer.from('3\n') }];
  for (const [key, s] of Object.entries(storages)) {
    entries.push(Buffer.isBuffer(s) ? { name: `archive/data/${key}`, data: s } : { ...s, name: `archive/data/${key}` });
  }
  return zipArchive(entries);
}
