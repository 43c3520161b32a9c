// Reading ZIP archives held in memory (central directory, stored or deflated entries, ZIP64), as torch.save writes
// them. Every size comes from the file, so every size is checked against the file before it is used: an entry lies
// inside the archive, and a deflated entry inflates to exactly its declared size, never more.
import * as buffer from 'node:buffer';
import * as zlib from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const SIG_LOCAL_HEADER = 0x04034b50;
const SIG_CENTRAL_HEADER = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const CENTRAL_HEADER_SIZE = 46;
const U32_MAX = 0xffffffff;
const STORED = 0;
const DEFLATED = 8;

export function isZip(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32LE(0) === SIG_LOCAL_HEADER;
}

export function zipError(source: string, msg: string): never {
  throw new Error(`${source}: corrupt or truncated ZIP archive: ${msg}`);
}

interface CentralDirectory {
  offset: number;
  size: number;
  count: number;
}

/** The archive's entries by name, from the central directory (local headers of torch files lack sizes). */
export function readZipDirectory(buf: Buffer, source: string): Map<string, ZipEntry> {
  const dir = findCentralDirectory(buf, source);
  if (dir.offset + dir.size > buf.length) zipError(source, 'central directory lies beyond the end of the file');
  // Each header takes at least 46 bytes, so a count beyond that is a lie (and would loop for nothing).
  if (dir.count > dir.size / CENTRAL_HEADER_SIZE)
    zipError(source, `${dir.count} entries cannot fit in a ${dir.size}-byte central directory`);
  const entries = new Map<string, ZipEntry>();
  let pos = dir.offset;
  for (let i = 0; i < dir.count; i++) {
    const { entry, next } = readCentralHeader(buf, pos, source);
    if (entries.has(entry.name)) zipError(source, `entry ${JSON.stringify(entry.name)} appears twice`);
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
  if (pos + CENTRAL_HEADER_SIZE > buf.length || buf.readUInt32LE(pos) !== SIG_CENTRAL_HEADER) {
    zipError(source, `bad central directory header at byte ${pos}`);
  }
  const nameLength = buf.readUInt16LE(pos + 28);
  const extraLength = buf.readUInt16LE(pos + 30);
  const commentLength = buf.readUInt16LE(pos + 32);
  const nameEnd = pos + CENTRAL_HEADER_SIZE + nameLength;
  if (nameEnd + extraLength > buf.length) zipError(source, `central directory header at byte ${pos} is cut short`);
  const entry: ZipEntry = {
    name: buf.toString('utf8', pos + CENTRAL_HEADER_SIZE, nameEnd),
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
      wanted.forEach((field, i) => {
        entry[field] = safeNumber(extra.readBigUInt64LE(pos + 4 + i * 8), source);
      });
      return;
    }
    pos += 4 + length;
  }
  zipError(source, `entry ${entry.name} lacks its ZIP64 sizes`);
}

/**
 * An entry's bytes: a view into the archive when stored, inflated when deflated. The entry's declared size must
 * match what is there, and a deflated entry must not declare more than `maxSize` bytes (the caller's bound).
 */
export function zipEntryData(
  buf: Buffer,
  entry: ZipEntry,
  source: string,
  maxSize = buffer.constants.MAX_LENGTH,
): Buffer {
  const raw = zipEntryRaw(buf, entry, source);
  if (entry.method === STORED) {
    if (entry.size !== entry.compressedSize)
      zipError(source, `stored entry ${entry.name} declares ${entry.size} bytes but holds ${entry.compressedSize}`);
    return raw;
  }
  if (entry.method !== DEFLATED)
    zipError(source, `entry ${entry.name} uses unsupported compression method ${entry.method}`);
  if (entry.size > maxSize)
    zipError(
      source,
      `entry ${entry.name} declares ${entry.size} bytes once inflated, more than the ${maxSize} allowed`,
    );
  return inflateExactly(raw, entry, source);
}

/** The entry's bytes as stored in the archive (still compressed if it is deflated). */
function zipEntryRaw(buf: Buffer, entry: ZipEntry, source: string): Buffer {
  const at = entry.localOffset;
  if (at + 30 > buf.length || buf.readUInt32LE(at) !== SIG_LOCAL_HEADER) {
    zipError(source, `bad local header for ${entry.name}`);
  }
  // Torch pads the local extra field so that data is 64-byte aligned: take its length from here.
  const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
  const end = start + entry.compressedSize;
  if (end > buf.length) zipError(source, `entry ${entry.name} runs past the end of the file (truncated?)`);
  return buf.subarray(start, end);
}

// zlib stops at the declared size (maxOutputLength), so a bomb costs at most what it declares; one byte more is
// asked for so that data beyond the declared size is seen as the mismatch it is.
function inflateExactly(raw: Buffer, entry: ZipEntry, source: string): Buffer {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(raw, { maxOutputLength: Math.min(entry.size + 1, buffer.constants.MAX_LENGTH) });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      return zipError(source, `entry ${entry.name} inflates to more than its declared ${entry.size} bytes`);
    }
    return zipError(source, `entry ${entry.name} does not inflate (${(e as Error).message})`);
  }
  if (out.length !== entry.size)
    zipError(source, `entry ${entry.name} inflates to ${out.length} bytes, expected ${entry.size}`);
  return out;
}

function safeNumber(v: bigint, source: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) zipError(source, `ZIP64 value ${v} is too large`);
  return Number(v);
}
