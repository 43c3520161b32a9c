// The safetensors format: u64 LE header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {key: value}}, then the tensor bytes.
import * as fs from 'node:fs';
import type { DType, RawTensor } from './raw-tensor';
import { assertRawTensor, byteLength, fromSafetensorsDType, toSafetensorsDType } from './raw-tensor';
import { readWholeFile } from './read-file';
import { findDuplicateKey } from './json-keys';
import { clipText, describeValue } from './describe';
import { writeFileAtomic } from './fs-atomic';

export interface SafetensorsContents {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

export type TensorDict = Map<string, RawTensor> | Record<string, RawTensor>;

const METADATA_KEY = '__metadata__';
// The Python library refuses larger headers; a bigger length is a sign of a corrupt file.
const MAX_HEADER_BYTES = 100_000_000;

/** Reads a .safetensors file; every tensor's data is a view into the one Buffer holding the file. */
export function readSafetensors(file: string): SafetensorsContents {
  return parseSafetensors(readWholeFile(file), file);
}

/** What a .safetensors header says (tensor names, dtypes and shapes, and `__metadata__`), reading only the header. */
export function readSafetensorsHeader(file: string): {
  tensors: Map<string, { dtype: DType; shape: number[] }>;
  metadata: Record<string, string>;
} {
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 8));
    fs.readSync(fd, head, 0, head.length, 0);
    if (head.length < 8) fail(`file is too short to be safetensors (${size} bytes, the header length alone is 8)`);
    const n = head.readBigUInt64LE(0);
    if (n > BigInt(Math.min(size - 8, MAX_HEADER_BYTES)))
      fail(`header length ${n} is beyond the file size (${size} bytes) or the ${MAX_HEADER_BYTES} bytes allowed`);
    const buf = Buffer.alloc(8 + Number(n));
    head.copy(buf);
    fs.readSync(fd, buf, 8, Number(n), 8);
    const { header } = readHeader(buf, fail);
    const tensors = new Map<string, { dtype: DType; shape: number[] }>();
    for (const [name, info] of Object.entries(header)) {
      if (name === METADATA_KEY) continue;
      const { dtype, shape } = parseEntry(name, info, fail);
      tensors.set(name, { dtype, shape });
    }
    return { tensors, metadata: parseMetadata(header[METADATA_KEY], fail) };
  } finally {
    fs.closeSync(fd);
  }
}

/** The `__metadata__` of a .safetensors file, reading only its header. */
export function readSafetensorsMetadata(file: string): Record<string, string> {
  return readSafetensorsHeader(file).metadata;
}

/** Parses safetensors bytes; `source` names the input in error messages. */
export function parseSafetensors(buf: Buffer, source = '<buffer>'): SafetensorsContents {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  const { header, dataStart } = readHeader(buf, fail);
  const metadata = parseMetadata(header[METADATA_KEY], fail);
  const entries = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, info]) => parseEntry(name, info, fail));
  const data = buf.subarray(dataStart);
  checkOffsets(entries, data.length, fail);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: data.subarray(e.begin, e.end) });
  }
  return { tensors, metadata };
}

interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}
type Fail = (msg: string) => never;

function readHeader(buf: Buffer, fail: Fail): { header: Record<string, unknown>; dataStart: number } {
  if (buf.length < 8) fail(`file is too short to be safetensors (${buf.length} bytes, the header length alone is 8)`);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(buf.length - 8)) fail(`header length ${n} is beyond the file size (${buf.length} bytes)`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} is larger than the ${MAX_HEADER_BYTES} bytes allowed`);
  const dataStart = 8 + Number(n);
  const text = buf.toString('utf8', 8, dataStart);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) fail('header is not a JSON object');
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) fail(`header names ${JSON.stringify(clipText(duplicate))} twice`);
  return { header: header as Record<string, unknown>, dataStart };
}

function parseMetadata(value: unknown, fail: Fail): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) fail(`"${METADATA_KEY}" is not an object`);
  const entries = Object.entries(value as object);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') fail(`"${METADATA_KEY}" value for '${clipText(k)}' is not a string`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseEntry(name: string, info: unknown, fail: Fail): HeaderEntry {
  const where = `tensor '${clipText(name)}'`;
  if (!isPlainObject(info)) fail(`${where}: header entry is not an object`);
  const { dtype: rawDtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  const dtype = typeof rawDtype === 'string' ? fromSafetensorsDType(rawDtype) : undefined;
  if (!dtype) fail(`${where}: unknown dtype ${describeValue(rawDtype)}`);
  if (!Array.isArray(shape) || !shape.every(isIndex)) fail(`${where}: invalid shape ${describeValue(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    fail(`${where}: invalid data_offsets ${describeValue(offsets)}`);
  }
  const [begin, end] = offsets as number[];
  return { name, dtype: dtype as DType, shape: shape as number[], begin, end };
}

/** Offsets must lie inside the data, not overlap, and span exactly numel * itemsize bytes. */
function checkOffsets(entries: HeaderEntry[], dataLength: number, fail: Fail): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let previous: HeaderEntry | undefined;
  for (const e of entries) {
    const where = `tensor '${clipText(e.name)}': data_offsets [${e.begin}, ${e.end}]`;
    if (e.end < e.begin || e.end > dataLength) {
      fail(`${where} are out of range (the data section has ${dataLength} bytes; is the file truncated?)`);
    }
    const expected = byteLength(e.dtype, e.shape);
    if (e.end - e.begin !== expected) {
      fail(
        `${where} span ${e.end - e.begin} bytes but ${toSafetensorsDType(e.dtype)}${describeValue(e.shape)} needs ${expected}`,
      );
    }
    if (e.begin === e.end) continue; // an empty tensor overlaps nothing
    if (previous && e.begin < previous.end) fail(`${where} overlap tensor '${clipText(previous.name)}'`);
    previous = e;
  }
}

/** Writes tensors atomically (temp file in the same directory, fsync, rename). */
export function writeSafetensors(file: string, tensors: TensorDict, metadata?: Record<string, string>): void {
  const ordered = orderLikeSafetensors(toEntries(tensors));
  const header = encodeHeader(ordered, metadata);
  writeFileAtomic(file, [header, ...ordered.map(([, t]) => t.data)]);
}

/** The file's bytes, for callers that want them in memory. */
export function serializeSafetensors(tensors: TensorDict, metadata?: Record<string, string>): Buffer {
  const ordered = orderLikeSafetensors(toEntries(tensors));
  return Buffer.concat([encodeHeader(ordered, metadata), ...ordered.map(([, t]) => t.data)]);
}

function toEntries(tensors: TensorDict): [string, RawTensor][] {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === METADATA_KEY) throw new Error(`'${METADATA_KEY}' cannot be used as a tensor name`);
    assertRawTensor(t, name);
  }
  return entries;
}

// The safetensors dtype enum is declared in increasing alignment; the Python library writes the
// largest alignment first, then by name (byte order), so every tensor starts aligned.
const ALIGNMENT_RANK: Readonly<Record<DType, number>> = {
  bool: 0,
  uint8: 1,
  int8: 2,
  int16: 3,
  float16: 4,
  bfloat16: 5,
  int32: 6,
  float32: 7,
  float64: 8,
  int64: 9,
};

function orderLikeSafetensors(entries: [string, RawTensor][]): [string, RawTensor][] {
  return [...entries].sort(
    ([aName, a], [bName, b]) =>
      ALIGNMENT_RANK[b.dtype] - ALIGNMENT_RANK[a.dtype] || Buffer.compare(Buffer.from(aName), Buffer.from(bName)),
  );
}

function encodeHeader(ordered: [string, RawTensor][], metadata?: Record<string, string>): Buffer {
  // Built by hand: a JS object would move integer-like tensor names ahead of "__metadata__".
  const fields: string[] = [];
  if (metadata !== undefined) fields.push(`${JSON.stringify(METADATA_KEY)}:${encodeMetadata(metadata)}`);
  let offset = 0;
  for (const [name, t] of ordered) {
    const info = { dtype: toSafetensorsDType(t.dtype), shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += t.data.length;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, ' ');
  json.copy(padded);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([length, padded]);
}

function encodeMetadata(metadata: Record<string, string>): string {
  const fields = Object.entries(metadata).map(([k, v]) => {
    if (typeof v !== 'string') throw new Error(`safetensors metadata value for '${k}' must be a string`);
    return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
  });
  return `{${fields.join(',')}}`;
}

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
