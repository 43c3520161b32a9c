// Reads PyTorch's torch.save zip format (pytorch_model.bin) without Python: a ZIP archive holding
// `<prefix>/data.pkl` (a pickle of the state dict whose tensors point at storages through persistent ids)
// and one `<prefix>/data/<key>` entry of raw little-endian bytes per storage.
//
// The unpickler is deliberately minimal and safe: it knows only the opcodes torch emits for a state dict
// and resolves only an allowlist of globals, so a malicious file cannot run code, only fail to load.
import * as zlib from 'zlib';
import { DType, RawTensor, ITEMSIZE, fromTorchStorageName, numel } from './raw-tensor';
import { readWholeFile } from './read-file';

/** Reads a torch.save zip checkpoint holding a flat state dict {name: tensor}. */
export function readTorchCheckpoint(file: string): Map<string, RawTensor> {
  return parseTorchCheckpoint(readWholeFile(file), file);
}

/** Parses torch.save zip bytes; `source` names the input in error messages. */
export function parseTorchCheckpoint(buf: Buffer, source = '<buffer>'): Map<string, RawTensor> {
  if (!isZip(buf)) {
    const legacy = buf[0] === 0x80 ? ' (it looks like the legacy pre-1.6 torch.save format, which is not supported)' : '';
    throw new Error(`${source}: not a torch zip checkpoint${legacy}`);
  }
  const entries = readZipDirectory(buf, source);
  const pickleName = findDataPkl(entries, source);
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  checkByteOrder(buf, entries, prefix, source);
  const storages = new StorageLoader(buf, entries, prefix, source);
  const tensors = new WeakSet<RawTensor>();
  let root: unknown;
  try {
    root = unpickle(zipEntryData(buf, entries.get(pickleName)!, source), {
      findGlobal: (module, name) => findTorchGlobal(module, name, tensors),
      persistentLoad: (pid) => storages.load(pid),
    });
  } catch (e) {
    throw withSource(e as Error, source);
  }
  return toStateDict(root, tensors, source);
}

// Archive errors already name the file; errors from inside the pickle do not.
function withSource(e: Error, source: string): Error {
  return e.message.startsWith(`${source}: `) ? e : new Error(`${source}: ${e.message}`);
}

export function isZip(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32LE(0) === SIG_LOCAL_HEADER;
}

function findDataPkl(entries: Map<string, ZipEntry>, source: string): string {
  const candidates = [...entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (candidates.length === 0) throw new Error(`${source}: no data.pkl in the archive; not a torch.save checkpoint`);
  return candidates.reduce((a, b) => (b.length < a.length ? b : a));
}

// Torch >= 2.1 records the byte order of the storages; older archives are always little-endian.
function checkByteOrder(buf: Buffer, entries: Map<string, ZipEntry>, prefix: string, source: string): void {
  const entry = entries.get(`${prefix}byteorder`);
  const order = entry ? zipEntryData(buf, entry, source).toString('latin1').trim() : 'little';
  if (order !== 'little') throw new Error(`${source}: storages are ${order}-endian; only little-endian is supported`);
}

function toStateDict(root: unknown, tensors: WeakSet<RawTensor>, source: string): Map<string, RawTensor> {
  if (!(root instanceof Map)) throw new Error(`${source}: the pickled object is not a dict, so not a state dict`);
  const out = new Map<string, RawTensor>();
  for (const [key, value] of root) {
    if (typeof key !== 'string') throw new Error(`${source}: state dict key ${String(key)} is not a string`);
    if (!tensors.has(value as RawTensor)) {
      throw new Error(`${source}: state dict entry '${key}' is not a tensor; only flat {name: tensor} dicts are supported`);
    }
    out.set(key, value as RawTensor);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// ZIP archive reading (central directory, stored or deflated entries, ZIP64)

interface ZipEntry { name: string; method: number; compressedSize: number; size: number; localOffset: number }

const SIG_LOCAL_HEADER = 0x04034b50;
const SIG_CENTRAL_HEADER = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const U32_MAX = 0xffffffff;

interface CentralDirectory { offset: number; size: number; count: number }

/** The archive's entries by name, from the central directory (local headers of torch files lack sizes). */
function readZipDirectory(buf: Buffer, source: string): Map<string, ZipEntry> {
  const dir = findCentralDirectory(buf, source);
  if (dir.offset + dir.size > buf.length) zipError(source, 'central directory lies beyond the end of the file');
  const entries = new Map<string, ZipEntry>();
  let pos = dir.offset;
  for (let i = 0; i < dir.count; i++) {
    const { entry, next } = readCentralHeader(buf, pos, source);
    entries.set(entry.name, entry);
    pos = next;
  }
  return entries;
}

function findCentralDirectory(buf: Buffer, source: string): CentralDirectory {
  const eocd = findEocd(buf);
  if (eocd < 0) zipError(source, 'no end-of-central-directory record');
  const locator = eocd - 20;
  if (locator >= 0 && buf.readUInt32LE(locator) === SIG_ZIP64_LOCATOR) {
    const zip64 = safeNumber(buf.readBigUInt64LE(locator + 8), source);
    if (zip64 + 56 > buf.length || buf.readUInt32LE(zip64) !== SIG_ZIP64_EOCD) zipError(source, 'bad ZIP64 end record');
    return {
      count: safeNumber(buf.readBigUInt64LE(zip64 + 32), source),
      size: safeNumber(buf.readBigUInt64LE(zip64 + 40), source),
      offset: safeNumber(buf.readBigUInt64LE(zip64 + 48), source),
    };
  }
  return { count: buf.readUInt16LE(eocd + 10), size: buf.readUInt32LE(eocd + 12), offset: buf.readUInt32LE(eocd + 16) };
}

// The record sits at the very end, followed only by a comment of at most 65535 bytes.
function findEocd(buf: Buffer): number {
  const lowest = Math.max(0, buf.length - EOCD_SIZE - 0xffff);
  for (let i = buf.length - EOCD_SIZE; i >= lowest; i--) {
    if (buf.readUInt32LE(i) === SIG_EOCD) return i;
  }
  return -1;
}

function readCentralHeader(buf: Buffer, pos: number, source: string): { entry: ZipEntry; next: number } {
  if (pos + 46 > buf.length || buf.readUInt32LE(pos) !== SIG_CENTRAL_HEADER) {
    zipError(source, `bad central directory header at byte ${pos}`);
  }
  const nameLength = buf.readUInt16LE(pos + 28);
  const extraLength = buf.readUInt16LE(pos + 30);
  const commentLength = buf.readUInt16LE(pos + 32);
  const nameEnd = pos + 46 + nameLength;
  if (nameEnd + extraLength > buf.length) zipError(source, `central directory header at byte ${pos} is cut short`);
  const entry: ZipEntry = {
    name: buf.toString('utf8', pos + 46, nameEnd),
    method: buf.readUInt16LE(pos + 10),
    compressedSize: buf.readUInt32LE(pos + 20),
    size: buf.readUInt32LE(pos + 24),
    localOffset: buf.readUInt32LE(pos + 42),
  };
  applyZip64Extra(entry, buf.subarray(nameEnd, nameEnd + extraLength), source);
  return { entry, next: nameEnd + extraLength + commentLength };
}

// A field that did not fit in 32 bits reads 0xffffffff; its real value is in the ZIP64 extra field
// (id 1), which lists only those fields, in the order size, compressed size, local header offset.
function applyZip64Extra(entry: ZipEntry, extra: Buffer, source: string): void {
  const wanted = (['size', 'compressedSize', 'localOffset'] as const).filter((f) => entry[f] === U32_MAX);
  if (wanted.length === 0) return;
  for (let pos = 0; pos + 4 <= extra.length;) {
    const id = extra.readUInt16LE(pos);
    const length = extra.readUInt16LE(pos + 2);
    if (id === 1 && length >= wanted.length * 8 && pos + 4 + length <= extra.length) {
      wanted.forEach((field, i) => { entry[field] = safeNumber(extra.readBigUInt64LE(pos + 4 + i * 8), source); });
      return;
    }
    pos += 4 + length;
  }
  zipError(source, `entry ${entry.name} lacks its ZIP64 sizes`);
}

function zipEntryData(buf: Buffer, entry: ZipEntry, source: string): Buffer {
  const at = entry.localOffset;
  if (at + 30 > buf.length || buf.readUInt32LE(at) !== SIG_LOCAL_HEADER) {
    zipError(source, `bad local header for ${entry.name}`);
  }
  // Torch pads the local extra field so that data is 64-byte aligned: take its length from here.
  const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
  const end = start + entry.compressedSize;
  if (end > buf.length) zipError(source, `entry ${entry.name} runs past the end of the file (truncated?)`);
  const raw = buf.subarray(start, end);
  if (entry.method === 0) return raw;
  if (entry.method === 8) return inflate(raw, entry, source);
  return zipError(source, `entry ${entry.name} uses unsupported compression method ${entry.method}`);
}

function inflate(raw: Buffer, entry: ZipEntry, source: string): Buffer {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(raw);
  } catch (e) {
    return zipError(source, `entry ${entry.name} does not inflate (${(e as Error).message})`);
  }
  if (out.length !== entry.size) zipError(source, `entry ${entry.name} inflates to ${out.length} bytes, expected ${entry.size}`);
  return out;
}

function safeNumber(v: bigint, source: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) zipError(source, `ZIP64 value ${v} is too large`);
  return Number(v);
}

function zipError(source: string, msg: string): never {
  throw new Error(`${source}: corrupt or truncated ZIP archive: ${msg}`);
}

// ---------------------------------------------------------------------------------------------------
// Storages and the torch globals a state dict pickle uses

interface StorageType { kind: 'storageType'; name: string; dtype: DType }
interface Storage { kind: 'storage'; key: string; dtype: DType; numel: number; bytes: Buffer }
/** What findGlobal returns for something REDUCE may call. */
export interface PyCallable { kind: 'callable'; name: string; call: (args: unknown[]) => unknown }

class StorageLoader {
  private readonly cache = new Map<string, Storage>();

  constructor(
    private readonly buf: Buffer,
    private readonly entries: Map<string, ZipEntry>,
    private readonly prefix: string,
    private readonly source: string,
  ) {}

  /** Resolves a persistent id ('storage', storage_type, key, location, numel). */
  load(pid: unknown): Storage {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new Error(`unsupported persistent id ${describe(pid)}`);
    }
    const [, type, key, , count] = pid as [string, unknown, unknown, unknown, unknown];
    if (!isKind<StorageType>(type, 'storageType')) throw new Error(`persistent id names ${describe(type)}, not a storage type`);
    if (typeof key !== 'string' || !isCount(count)) throw new Error(`bad storage persistent id ${describe(pid)}`);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const storage = this.read(key, type.dtype, count);
    this.cache.set(key, storage);
    return storage;
  }

  private read(key: string, dtype: DType, count: number): Storage {
    const name = `${this.prefix}data/${key}`;
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`storage entry ${name} is missing from the archive`);
    const bytes = zipEntryData(this.buf, entry, this.source);
    if (bytes.length < count * ITEMSIZE[dtype]) {
      throw new Error(`storage ${name} has ${bytes.length} bytes, ${count} ${dtype} elements need ${count * ITEMSIZE[dtype]}`);
    }
    return { kind: 'storage', key, dtype, numel: count, bytes };
  }
}

// UntypedStorage (torch >= 2 for untyped tensors' storages) counts bytes.
const UNTYPED_STORAGE_DTYPE: DType = 'uint8';

function findTorchGlobal(module: string, name: string, tensors: WeakSet<RawTensor>): unknown {
  const full = `${module}.${name}`;
  const storageDtype = module === 'torch'
    ? (name === 'UntypedStorage' ? UNTYPED_STORAGE_DTYPE : fromTorchStorageName(name))
    : undefined;
  if (storageDtype) return { kind: 'storageType', name: full, dtype: storageDtype } satisfies StorageType;
  const callable = (call: (args: unknown[]) => unknown): PyCallable => ({ kind: 'callable', name: full, call });
  switch (full) {
    case 'collections.OrderedDict':
      return callable((args) => newOrderedDict(args));
    case 'torch._utils._rebuild_tensor_v2':
      return callable((args) => {
        const t = rebuildTensor(args);
        tensors.add(t);
        return t;
      });
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return callable((args) => args[0]); // (data, requires_grad, backward_hooks[, state]): the data is the tensor
    default:
      throw new Error(`unsupported pickle global ${full}`);
  }
}

function newOrderedDict(args: unknown[]): Map<unknown, unknown> {
  if (args.length > 0) throw new Error('OrderedDict() with arguments is not supported');
  return new Map();
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(args: unknown[]): RawTensor {
  const [storage, offset, size, stride] = args;
  if (!isKind<Storage>(storage, 'storage')) throw new Error(`_rebuild_tensor_v2 got ${describe(storage)} for a storage`);
  if (!isCount(offset) || !isCountList(size) || !isCountList(stride) || size.length !== stride.length) {
    throw new Error(`_rebuild_tensor_v2: bad offset/size/stride ${describe([offset, size, stride])}`);
  }
  const data = contiguousBytes(storage, offset, size, stride);
  return { dtype: storage.dtype, shape: [...size], data };
}

/** The C-contiguous bytes of a strided view into a storage; a view of the storage when already contiguous. */
function contiguousBytes(storage: Storage, offset: number, shape: number[], stride: number[]): Buffer {
  const itemsize = ITEMSIZE[storage.dtype];
  const count = numel(shape);
  if (count === 0) return Buffer.alloc(0);
  const last = shape.reduce((end, dim, i) => end + (dim - 1) * stride[i], offset);
  if (last >= storage.numel) {
    throw new Error(`tensor view (offset ${offset}, shape [${shape}], stride [${stride}]) exceeds its storage of ${storage.numel} elements`);
  }
  if (isContiguous(shape, stride)) return storage.bytes.subarray(offset * itemsize, (offset + count) * itemsize);
  return gatherStrided(storage.bytes, itemsize, offset, shape, stride);
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

// Walks the view in C order, copying runs of the innermost dimension when it is unit-strided.
function gatherStrided(src: Buffer, itemsize: number, offset: number, shape: number[], stride: number[]): Buffer {
  const out = Buffer.allocUnsafe(numel(shape) * itemsize);
  const ndim = shape.length;
  const run = stride[ndim - 1] === 1 ? shape[ndim - 1] : 1;
  const outer = run === 1 ? shape : shape.slice(0, -1);
  const index = new Array<number>(outer.length).fill(0);
  let at = offset;
  for (let written = 0; written < out.length; written += run * itemsize) {
    src.copy(out, written, at * itemsize, (at + run) * itemsize);
    for (let d = outer.length - 1; d >= 0; d--) {
      at += stride[d];
      if (++index[d] < outer[d]) break;
      at -= stride[d] * outer[d];
      index[d] = 0;
    }
  }
  return out;
}

function isKind<T extends { kind: string }>(v: unknown, kind: T['kind']): v is T {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === kind;
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isCountList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isCount);
}

function describe(v: unknown): string {
  if (isKind<PyCallable>(v, 'callable') || isKind<StorageType>(v, 'storageType')) return v.name;
  try {
    const text = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
    return text === undefined ? String(v) : text.slice(0, 200);
  } catch {
    return String(v);
  }
}

// ---------------------------------------------------------------------------------------------------
// A minimal, safe unpickler (protocols 2-5, the opcodes a state dict uses)

export interface UnpickleHooks {
  /** Resolves GLOBAL / STACK_GLOBAL, to a PyCallable or a plain value; must throw for anything not allowed. */
  findGlobal(module: string, name: string): unknown;
  /** Resolves BINPERSID. */
  persistentLoad(pid: unknown): unknown;
}

/** Python values map to: int -> number (bigint beyond 2^53), str -> string, tuple/list -> array, dict -> Map. */
export function unpickle(data: Buffer, hooks: UnpickleHooks): unknown {
  const m = new PickleMachine(data, hooks);
  try {
    while (!m.stopped) {
      const at = m.pos;
      const op = m.byte();
      const handler = OPCODES[op];
      if (!handler) throw new PickleError(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
      handler(m);
    }
  } catch (e) {
    if (e instanceof PickleError) throw new Error(`bad pickle: ${e.message}`);
    throw e;
  }
  return m.result;
}

class PickleError extends Error {}

const MARK = Symbol('mark');

class PickleMachine {
  pos = 0;
  stopped = false;
  result: unknown;
  stack: unknown[] = [];
  readonly memo = new Map<number, unknown>();

  constructor(private readonly data: Buffer, readonly hooks: UnpickleHooks) {}

  take(n: number): Buffer {
    if (this.pos + n > this.data.length) throw new PickleError(`truncated pickle (needs ${n} bytes at byte ${this.pos})`);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  byte(): number { return this.take(1)[0]; }
  u16(): number { return this.take(2).readUInt16LE(0); }
  u32(): number { return this.take(4).readUInt32LE(0); }
  i32(): number { return this.take(4).readInt32LE(0); }

  u64(): number {
    const v = this.take(8).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleError(`length ${v} is too large`);
    return Number(v);
  }

  line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) throw new PickleError('truncated pickle (unterminated GLOBAL line)');
    const text = this.data.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return text;
  }

  push(v: unknown): void { this.stack.push(v); }

  pop(): unknown {
    if (this.stack.length === 0 || this.top() === MARK) throw new PickleError(`stack underflow at byte ${this.pos}`);
    return this.stack.pop();
  }

  top(): unknown {
    if (this.stack.length === 0) throw new PickleError(`stack underflow at byte ${this.pos}`);
    return this.stack[this.stack.length - 1];
  }

  /** Pops everything above the topmost MARK, and the MARK. */
  popMark(): unknown[] {
    const at = this.stack.lastIndexOf(MARK);
    if (at < 0) throw new PickleError(`no MARK on the stack at byte ${this.pos}`);
    const items = this.stack.slice(at + 1);
    this.stack.length = at;
    return items;
  }

  memoGet(index: number): unknown {
    if (!this.memo.has(index)) throw new PickleError(`memo key ${index} is not defined`);
    return this.memo.get(index);
  }

  global(module: string, name: string): void { this.push(this.hooks.findGlobal(module, name)); }
}

function decodeLong(bytes: Buffer): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(bytes.length * 8); // two's complement
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function setItems(m: PickleMachine, items: unknown[]): void {
  const dict = m.top();
  if (!(dict instanceof Map)) throw new PickleError(`SETITEM(S) on ${describe(dict)}, not a dict`);
  if (items.length % 2 !== 0) throw new PickleError('SETITEMS with an odd number of items');
  for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
}

function appendItems(m: PickleMachine, items: unknown[]): void {
  const list = m.top();
  if (!Array.isArray(list)) throw new PickleError(`APPEND(S) on ${describe(list)}, not a list`);
  list.push(...items);
}

function reduce(m: PickleMachine): void {
  const args = m.pop();
  const fn = m.pop();
  if (!isKind<PyCallable>(fn, 'callable')) throw new PickleError(`REDUCE on ${describe(fn)}, which is not callable`);
  if (!Array.isArray(args)) throw new PickleError(`REDUCE of ${fn.name} with non-tuple arguments`);
  m.push(fn.call(args));
}

// BUILD sets an object's state; torch only uses it to attach `_metadata` to a state dict, which we drop.
function build(m: PickleMachine): void {
  m.pop();
  const target = m.top();
  if (!(target instanceof Map)) throw new PickleError(`BUILD on ${describe(target)} is not supported`);
}

function stackGlobal(m: PickleMachine): void {
  const name = m.pop();
  const module = m.pop();
  if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('STACK_GLOBAL needs two strings');
  m.global(module, name);
}

const OPCODES: Record<number, (m: PickleMachine) => void> = {
  0x80: (m) => { m.byte(); }, // PROTO
  0x95: (m) => { m.u64(); }, // FRAME: framing only groups reads
  0x2e: (m) => { m.result = m.pop(); m.stopped = true; }, // STOP
  0x28: (m) => m.push(MARK), // MARK
  0x30: (m) => { m.pop(); }, // POP
  0x31: (m) => { m.popMark(); }, // POP_MARK
  0x32: (m) => m.push(m.top()), // DUP
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
  0x4a: (m) => m.push(m.i32()), // BININT
  0x4b: (m) => m.push(m.byte()), // BININT1
  0x4d: (m) => m.push(m.u16()), // BININT2
  0x8a: (m) => m.push(decodeLong(m.take(m.byte()))), // LONG1
  0x8b: (m) => m.push(decodeLong(m.take(m.u32()))), // LONG4
  0x47: (m) => m.push(m.take(8).readDoubleBE(0)), // BINFLOAT
  0x58: (m) => m.push(m.take(m.u32()).toString('utf8')), // BINUNICODE
  0x8c: (m) => m.push(m.take(m.byte()).toString('utf8')), // SHORT_BINUNICODE
  0x8d: (m) => m.push(m.take(m.u64()).toString('utf8')), // BINUNICODE8
  0x43: (m) => m.push(Buffer.from(m.take(m.byte()))), // SHORT_BINBYTES
  0x42: (m) => m.push(Buffer.from(m.take(m.u32()))), // BINBYTES
  0x29: (m) => m.push([]), // EMPTY_TUPLE
  0x74: (m) => m.push(m.popMark()), // TUPLE
  0x85: (m) => m.push([m.pop()]), // TUPLE1
  0x86: (m) => { const b = m.pop(); m.push([m.pop(), b]); }, // TUPLE2
  0x87: (m) => { const c = m.pop(); const b = m.pop(); m.push([m.pop(), b, c]); }, // TUPLE3
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x6c: (m) => m.push(m.popMark()), // LIST
  0x61: (m) => { const v = m.pop(); appendItems(m, [v]); }, // APPEND
  0x65: (m) => appendItems(m, m.popMark()), // APPENDS
  0x7d: (m) => m.push(new Map()), // EMPTY_DICT
  0x64: (m) => { const items = m.popMark(); m.push(new Map()); setItems(m, items); }, // DICT
  0x73: (m) => { const v = m.pop(); const k = m.pop(); setItems(m, [k, v]); }, // SETITEM
  0x75: (m) => setItems(m, m.popMark()), // SETITEMS
  0x71: (m) => { m.memo.set(m.byte(), m.top()); }, // BINPUT
  0x72: (m) => { m.memo.set(m.u32(), m.top()); }, // LONG_BINPUT
  0x94: (m) => { m.memo.set(m.memo.size, m.top()); }, // MEMOIZE
  0x68: (m) => m.push(m.memoGet(m.byte())), // BINGET
  0x6a: (m) => m.push(m.memoGet(m.u32())), // LONG_BINGET
  0x63: (m) => { const module = m.line(); m.global(module, m.line()); }, // GLOBAL
  0x93: stackGlobal, // STACK_GLOBAL
  0x52: reduce, // REDUCE
  0x62: build, // BUILD
  0x51: (m) => m.push(m.hooks.persistentLoad(m.pop())), // BINPERSID
};
