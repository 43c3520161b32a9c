/**
 * A small streaming reader for .tar and .tar.gz archives (ustar, GNU and pax variants).
 *
 * Only regular files are yielded. Entries rejected by the filter are skipped as they stream past,
 * so reading a few files out of a large archive costs the decompression and nothing more.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { clipText } from '../io/describe';

const BLOCK = 512;

export interface TarEntry {
  name: string;
  size: number;
  data: Buffer;
}

/** What the filter sees: the entry's header, before any of its data has been read. */
export interface TarHeader {
  name: string;
  size: number;
}

export type TarFilter = (header: TarHeader) => boolean;

export interface ReadTarOptions {
  /** Return false to skip an entry without buffering its data. */
  filter?: TarFilter;
  /** The largest entry kept in memory; a bigger one (that the filter accepts) is an error. Default 256 MiB. */
  maxEntryBytes?: number;
  /** What errors call the archive when it is given as a Buffer (default '<buffer>'). */
  name?: string;
}

export const DEFAULT_MAX_ENTRY_BYTES = 256 << 20;
// Metadata entries (GNU long names, pax headers) are read into memory whatever the filter says; real ones are a few
// hundred bytes.
const MAX_META_BYTES = 1 << 20;
// A gzip stream may inflate to this many times its compressed size, plus MIN_INFLATE_ALLOWANCE. Text archives inflate
// about 5x (IMDb: 84 MB to 490 MB), a tar of tiny files with its zero padding some 50x; gzip's own ceiling, and so a
// bomb's ratio, is about 1,000x.
const MAX_INFLATE_RATIO = 200;
const MIN_INFLATE_ALLOWANCE = 64 << 20;

/**
 * Streams the regular files of a .tar or .tar.gz (detected by its magic bytes, not its name). Errors name the
 * archive, and the entry when there is one.
 */
export async function* readTar(source: string | Buffer, options: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const name = Buffer.isBuffer(source) ? (options.name ?? '<buffer>') : source;
  const parser = new TarParser(options.filter, options.maxEntryBytes);
  try {
    const input = await openDecompressed(source);
    let inflated = 0;
    for await (const chunk of input.stream) {
      inflated += (chunk as Buffer).length;
      if (input.gzipped && inflated > MIN_INFLATE_ALLOWANCE + MAX_INFLATE_RATIO * input.compressedBytes()) {
        throw new Error(
          `gzip data inflates more than ${MAX_INFLATE_RATIO} times over (${inflated} bytes from ${input.compressedBytes()}); refusing a likely gzip bomb ${parser.position()}`,
        );
      }
      yield* parser.push(chunk as Buffer);
    }
    parser.end();
  } catch (e) {
    throw new Error(`${name}: ${describeTarError(e as Error, parser)}`);
  }
}

// zlib's and the file system's errors do not say where in the archive they happened; the parser's own errors do.
function describeTarError(e: Error, parser: TarParser): string {
  if (e instanceof TarFormatError) return e.message;
  const code = (e as { code?: string }).code;
  if (code?.startsWith('Z_') || code === 'ERR_STREAM_PREMATURE_CLOSE')
    return `gzip data is corrupt or truncated (${e.message}) ${parser.position()}`;
  return e.message;
}

/** A malformed archive; the message says where. */
export class TarFormatError extends Error {}

/** Collects every entry that passes the filter. */
export async function readTarEntries(source: string | Buffer, options: ReadTarOptions = {}): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  for await (const entry of readTar(source, options)) entries.push(entry);
  return entries;
}

interface DecompressedInput {
  stream: Readable;
  gzipped: boolean;
  compressedBytes: () => number;
}

async function openDecompressed(source: string | Buffer): Promise<DecompressedInput> {
  const gzipped = Buffer.isBuffer(source) ? isGzip(source) : isGzip(await readHead(source, 2));
  const raw = Buffer.isBuffer(source) ? Readable.from([source]) : createReadStream(source, { highWaterMark: 1 << 20 });
  let compressed = 0;
  const compressedBytes = () => compressed;
  if (!gzipped) return { stream: raw, gzipped, compressedBytes };
  raw.on('data', (chunk: Buffer) => {
    compressed += chunk.length;
  });
  // pipeline() forwards a read error from the file into the gunzip stream, so the for-await above throws.
  return { stream: pipeline(raw, createGunzip({ chunkSize: 1 << 18 }), () => {}), gzipped, compressedBytes };
}

function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const file = await fsp.open(path, 'r');
  try {
    const head = Buffer.alloc(length);
    const { bytesRead } = await file.read(head, 0, length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** Header fields the parser needs, after GNU long names and pax overrides are applied. */
interface RawHeader {
  name: string;
  size: number;
  type: string;
}

/** Overrides carried by 'L' and 'x' entries for the entry that follows them. */
interface PendingOverrides {
  name?: string;
  size?: number;
}

type BodyUse = 'keep' | 'skip' | 'longName' | 'pax';

/**
 * Incremental tar parser: push() it chunks of any size and it returns the entries they complete.
 * Exported so tests can feed it awkward chunk boundaries.
 */
export class TarParser {
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  private bodyRemaining = 0;
  private bodyUse: BodyUse = 'skip';
  private current: RawHeader | null = null;
  private padding = 0;
  private overrides: PendingOverrides = {};
  private finished = false;
  /** Bytes of the archive consumed so far, and the last entry started, for error messages. */
  private offset = 0;
  private lastName: string | undefined;

  constructor(
    private readonly filter?: TarFilter,
    private readonly maxEntryBytes = DEFAULT_MAX_ENTRY_BYTES,
  ) {}

  /** Where the parser is, for an error message: "at byte N in entry 'x'" or "after entry 'x'". */
  position(): string {
    const entry = this.current
      ? ` in entry '${clipText(this.current.name)}'`
      : this.lastName !== undefined
        ? ` after entry '${clipText(this.lastName)}'`
        : '';
    return `at byte ${this.offset}${entry}`;
  }

  private fail(message: string): never {
    throw new TarFormatError(`${message} (${this.position()})`);
  }

  push(chunk: Buffer): TarEntry[] {
    const completed: TarEntry[] = [];
    let pos = 0;
    while (pos < chunk.length && !this.finished) {
      const before = pos;
      if (this.bodyRemaining > 0) {
        pos = this.consumeBody(chunk, pos, completed);
      } else if (this.padding > 0) {
        const take = Math.min(this.padding, chunk.length - pos);
        this.padding -= take;
        pos += take;
      } else {
        pos = this.consumeHeader(chunk, pos, completed);
      }
      this.offset += pos - before;
    }
    return completed;
  }

  /** Throws if the archive stopped in the middle of an entry. */
  end(): void {
    if (this.bodyRemaining > 0 || this.padding > 0 || this.headerFill > 0) {
      const missing = this.bodyRemaining > 0 ? `, ${this.bodyRemaining} bytes of its data missing` : '';
      this.fail(`archive is truncated${missing}`);
    }
  }

  private consumeHeader(chunk: Buffer, pos: number, completed: TarEntry[]): number {
    const take = Math.min(BLOCK - this.headerFill, chunk.length - pos);
    chunk.copy(this.header, this.headerFill, pos, pos + take);
    this.headerFill += take;
    if (this.headerFill === BLOCK) {
      this.headerFill = 0;
      this.startEntry(completed);
    }
    return pos + take;
  }

  private startEntry(completed: TarEntry[]): void {
    if (isZeroBlock(this.header)) {
      // The archive ends with zero blocks; whatever follows them (more zeros, usually) is not ours.
      this.finished = true;
      return;
    }
    const header = this.applyOverrides(this.parseHeader(this.header));
    this.current = header;
    this.lastName = header.name;
    this.bodyUse = this.decideBodyUse(header);
    const limit = this.bodyUse === 'keep' ? this.maxEntryBytes : MAX_META_BYTES;
    if (this.bodyUse !== 'skip' && header.size > limit)
      this.fail(`entry is ${header.size} bytes, more than the ${limit} read into memory`);
    this.bodyRemaining = header.size;
    this.padding = (BLOCK - (header.size % BLOCK)) % BLOCK;
    this.body = this.bodyUse === 'skip' ? null : Buffer.allocUnsafe(header.size);
    this.bodyFill = 0;
    if (header.size === 0) this.finishBody(completed);
  }

  private applyOverrides(header: RawHeader): RawHeader {
    if (isMetaType(header.type)) return header;
    const merged = { ...header, ...this.overrides };
    this.overrides = {};
    return merged;
  }

  private parseHeader(block: Buffer): RawHeader {
    if (!hasValidChecksum(block)) this.fail('bad tar header checksum (not a tar archive, or it is corrupt)');
    const name = readCString(block, 0, 100);
    const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]);
    const size = readSize(block);
    if (!isByteCount(size)) this.fail(`entry '${clipText(name)}' has an invalid size field`);
    // Only POSIX ustar ("ustar\0") uses the prefix field; old GNU headers ("ustar  \0") keep other data there.
    const isPosixUstar = block.toString('latin1', 257, 263) === 'ustar\0';
    const prefix = isPosixUstar ? readCString(block, 345, 155) : '';
    return { name: prefix ? `${prefix}/${name}` : name, size, type };
  }

  /** Pax records are "<length> <key>=<value>\n"; length counts the whole record in bytes. */
  private parsePax(body: Buffer): PendingOverrides {
    const overrides: PendingOverrides = {};
    let pos = 0;
    while (pos < body.length) {
      const space = body.indexOf(0x20, pos);
      const length = space < 0 ? NaN : Number(body.toString('latin1', pos, space));
      if (!Number.isSafeInteger(length) || length <= space - pos + 1 || pos + length > body.length) {
        this.fail(`malformed pax record at byte ${pos} of the pax header`);
      }
      const record = body.toString('utf8', space + 1, pos + length - 1);
      const eq = record.indexOf('=');
      const key = record.slice(0, eq);
      const value = record.slice(eq + 1);
      if (key === 'path') overrides.name = value;
      if (key === 'size') {
        const size = /^\d+$/.test(value) ? Number(value) : NaN;
        if (!isByteCount(size))
          this.fail(`pax header gives size ${JSON.stringify(clipText(value, 40))}, not a byte count`);
        overrides.size = size;
      }
      pos += length;
    }
    return overrides;
  }

  private decideBodyUse(header: RawHeader): BodyUse {
    if (header.type === 'L') return 'longName';
    if (header.type === 'x') return 'pax';
    if (!isRegularFile(header.type)) return 'skip';
    if (this.filter && !this.filter({ name: header.name, size: header.size })) return 'skip';
    return 'keep';
  }

  private consumeBody(chunk: Buffer, pos: number, completed: TarEntry[]): number {
    const take = Math.min(this.bodyRemaining, chunk.length - pos);
    if (this.body) chunk.copy(this.body, this.bodyFill, pos, pos + take);
    this.bodyFill += take;
    this.bodyRemaining -= take;
    if (this.bodyRemaining === 0) this.finishBody(completed);
    return pos + take;
  }

  private finishBody(completed: TarEntry[]): void {
    const header = this.current!;
    const body = this.body;
    this.body = null;
    if (this.bodyUse === 'keep') completed.push({ name: header.name, size: header.size, data: body! });
    else if (this.bodyUse === 'longName') this.overrides.name = readCString(body!, 0, body!.length);
    else if (this.bodyUse === 'pax') this.overrides = { ...this.overrides, ...this.parsePax(body!) };
    this.current = null;
  }
}

/** The checksum counts the checksum field as spaces; some old writers summed signed bytes, so accept both. */
function hasValidChecksum(block: Buffer): boolean {
  const stored = parseInt(readCString(block, 148, 8).trim(), 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

function isByteCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Sizes are octal text, or big-endian base-256 with the high bit set (GNU, for files over 8 GiB). */
function readSize(block: Buffer): number {
  if (block[124] & 0x80) {
    let size = block[124] & 0x7f;
    for (let i = 125; i < 136; i++) size = size * 256 + block[i];
    return size;
  }
  const text = readCString(block, 124, 12).trim();
  return text === '' ? 0 : /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

function readCString(buffer: Buffer, start: number, length: number): string {
  const end = buffer.indexOf(0, start);
  const stop = end < 0 || end > start + length ? start + length : end;
  return buffer.toString('utf8', start, stop);
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function isRegularFile(type: string): boolean {
  return type === '0' || type === '7';
}

/** Entries that describe other entries: GNU long name/link name, pax per-file and global headers. */
function isMetaType(type: string): boolean {
  return type === 'L' || type === 'K' || type === 'x' || type === 'g';
}
