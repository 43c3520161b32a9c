// A minimal, safe unpickler (protocols 2-5, the opcodes a state dict uses). It knows no Python: globals and
// persistent ids go to the caller's hooks, which resolve an allowlist, so a malicious pickle cannot run code.
//
// Its work and memory are bounded too. Every opcode consumes at least one byte, so the number of steps is at most the
// pickle's length; each step does constant work plus work on items an earlier step pushed, except the few that copy
// (bounded below). What a pickle can build is capped by the limits below: far above what a state dict needs (about
// 10 memo entries and 20 container items per tensor, so 100,000 tensors; the stack holds one SETITEMS batch of
// 1,000 pairs), far below what exhausts V8 (an array of 150M `None`s is a fatal "invalid size" error, no exception).
import { describeValue } from './describe';

export interface UnpickleHooks {
  /** Resolves GLOBAL / STACK_GLOBAL, to a PyCallable or a plain value; must throw for anything not allowed. */
  findGlobal(module: string, name: string): unknown;
  /** Resolves BINPERSID. */
  persistentLoad(pid: unknown): unknown;
}

/** What findGlobal returns for something REDUCE may call. */
export interface PyCallable {
  kind: 'callable';
  name: string;
  call: (args: unknown[]) => unknown;
}

export interface UnpickleLimits {
  /** Values on the stack at once. */
  maxStack: number;
  /** Memo entries. */
  maxMemo: number;
  /** Items put into lists, tuples and dicts, all of them together (a dict entry counts 2). */
  maxItems: number;
  /** Bytes of one integer (LONG1/LONG4); int64 needs 9. */
  maxLongBytes: number;
}

export const DEFAULT_UNPICKLE_LIMITS: Readonly<UnpickleLimits> = {
  maxStack: 1 << 20,
  maxMemo: 1 << 20,
  maxItems: 1 << 22,
  maxLongBytes: 64,
};

/** Python values map to: int -> number (bigint beyond 2^53), str -> string, tuple/list -> array, dict -> Map. */
export function unpickle(data: Buffer, hooks: UnpickleHooks, limits: Partial<UnpickleLimits> = {}): unknown {
  const m = new PickleMachine(data, hooks, { ...DEFAULT_UNPICKLE_LIMITS, ...limits });
  try {
    while (!m.stopped) {
      const at = m.pos;
      const op = m.byte();
      const handler = OPCODES[op];
      if (!handler)
        throw new PickleError(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
      handler(m);
    }
  } catch (e) {
    if (e instanceof PickleError) throw new Error(`bad pickle: ${e.message}`);
    throw e;
  }
  return m.result;
}

export function isPyCallable(v: unknown): v is PyCallable {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'callable';
}

class PickleError extends Error {}

const MARK = Symbol('mark');

class PickleMachine {
  pos = 0;
  stopped = false;
  result: unknown;
  private readonly stack: unknown[] = [];
  // Memo keys are dense in practice (MEMOIZE numbers them 0, 1, 2, ...): an array holds those, 5x faster than a Map.
  // Keys far beyond its end (LONG_BINPUT 4e9) go to a Map, which a sparse array would be anyway, only slower.
  // No pickle value is `undefined`, so that marks an absent key.
  private readonly memo: unknown[] = [];
  private readonly sparseMemo = new Map<number, unknown>();
  private memoCount = 0;
  private items = 0;

  constructor(
    private readonly data: Buffer,
    readonly hooks: UnpickleHooks,
    private readonly limits: UnpickleLimits,
  ) {}

  take(n: number): Buffer {
    if (this.pos + n > this.data.length)
      throw new PickleError(`truncated pickle (needs ${n} bytes at byte ${this.pos})`);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  // The hot path (one call per opcode): no subarray.
  byte(): number {
    if (this.pos >= this.data.length) throw new PickleError(`truncated pickle (needs 1 bytes at byte ${this.pos})`);
    return this.data[this.pos++];
  }
  u16(): number {
    return this.take(2).readUInt16LE(0);
  }
  u32(): number {
    return this.take(4).readUInt32LE(0);
  }
  i32(): number {
    return this.take(4).readInt32LE(0);
  }

  u64(): number {
    const v = this.take(8).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleError(`length ${v} is too large`);
    return Number(v);
  }

  long(length: number): number | bigint {
    if (length > this.limits.maxLongBytes)
      throw new PickleError(
        `integer of ${length} bytes at byte ${this.pos} (at most ${this.limits.maxLongBytes} allowed)`,
      );
    return decodeLong(this.take(length));
  }

  line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) throw new PickleError('truncated pickle (unterminated GLOBAL line)');
    const text = this.data.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return text;
  }

  push(v: unknown): void {
    if (this.stack.length >= this.limits.maxStack)
      throw new PickleError(`more than ${this.limits.maxStack} values on the stack at byte ${this.pos}`);
    this.stack.push(v);
  }

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

  /** Counts `n` more items put into containers. */
  grow(n: number): void {
    this.items += n;
    if (this.items > this.limits.maxItems)
      throw new PickleError(`more than ${this.limits.maxItems} items in lists, tuples and dicts at byte ${this.pos}`);
  }

  /** A new tuple or list of `items`. */
  sequence(items: unknown[]): unknown[] {
    this.grow(items.length);
    return items;
  }

  memoPut(index: number): void {
    const value = this.top();
    if (this.memo[index] === undefined && !this.sparseMemo.has(index)) {
      if (this.memoCount >= this.limits.maxMemo)
        throw new PickleError(`more than ${this.limits.maxMemo} memo entries at byte ${this.pos}`);
      this.memoCount++;
    }
    if (index <= this.memo.length + 1024) {
      this.memo[index] = value;
      this.sparseMemo.delete(index);
    } else {
      this.sparseMemo.set(index, value);
    }
  }

  memoGet(index: number): unknown {
    const value = this.memo[index] ?? this.sparseMemo.get(index);
    if (value === undefined) throw new PickleError(`memo key ${index} is not defined`);
    return value;
  }

  memoSize(): number {
    return this.memoCount;
  }

  global(module: string, name: string): void {
    this.push(this.hooks.findGlobal(module, name));
  }
}

// Little-endian two's complement; through hex, which is linear where shifting a BigInt byte by byte is quadratic.
function decodeLong(bytes: Buffer): number | bigint {
  if (bytes.length === 0) return 0;
  let v = BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function setItems(m: PickleMachine, items: unknown[]): void {
  const dict = m.top();
  if (!(dict instanceof Map)) throw new PickleError(`SETITEM(S) on ${describeValue(dict)}, not a dict`);
  if (items.length % 2 !== 0) throw new PickleError('SETITEMS with an odd number of items');
  m.grow(items.length);
  for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
}

function targetList(m: PickleMachine, count: number): unknown[] {
  const list = m.top();
  if (!Array.isArray(list)) throw new PickleError(`APPEND(S) on ${describeValue(list)}, not a list`);
  m.grow(count);
  return list;
}

function appendItem(m: PickleMachine, item: unknown): void {
  targetList(m, 1).push(item);
}

function appendItems(m: PickleMachine, items: unknown[]): void {
  const list = targetList(m, items.length);
  for (const item of items) list.push(item); // not push(...items): a long spread overflows the call stack
}

function reduce(m: PickleMachine): void {
  const args = m.pop();
  const fn = m.pop();
  if (!isPyCallable(fn)) throw new PickleError(`REDUCE on ${describeValue(fn)}, which is not callable`);
  if (!Array.isArray(args)) throw new PickleError(`REDUCE of ${fn.name} with non-tuple arguments`);
  m.push(fn.call(args));
}

// BUILD sets an object's state; torch only uses it to attach `_metadata` to a state dict, which we drop.
function build(m: PickleMachine): void {
  m.pop();
  const target = m.top();
  if (!(target instanceof Map)) throw new PickleError(`BUILD on ${describeValue(target)} is not supported`);
}

function stackGlobal(m: PickleMachine): void {
  const name = m.pop();
  const module = m.pop();
  if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('STACK_GLOBAL needs two strings');
  m.global(module, name);
}

const OPCODES: Record<number, (m: PickleMachine) => void> = {
  0x80: (m) => {
    m.byte();
  }, // PROTO
  0x95: (m) => {
    m.u64();
  }, // FRAME: framing only groups reads
  0x2e: (m) => {
    m.result = m.pop();
    m.stopped = true;
  }, // STOP
  0x28: (m) => m.push(MARK), // MARK
  0x30: (m) => {
    m.pop();
  }, // POP
  0x31: (m) => {
    m.popMark();
  }, // POP_MARK
  0x32: (m) => m.push(m.top()), // DUP
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
  0x4a: (m) => m.push(m.i32()), // BININT
  0x4b: (m) => m.push(m.byte()), // BININT1
  0x4d: (m) => m.push(m.u16()), // BININT2
  0x8a: (m) => m.push(m.long(m.byte())), // LONG1
  0x8b: (m) => m.push(m.long(m.u32())), // LONG4
  0x47: (m) => m.push(m.take(8).readDoubleBE(0)), // BINFLOAT
  0x58: (m) => m.push(m.take(m.u32()).toString('utf8')), // BINUNICODE
  0x8c: (m) => m.push(m.take(m.byte()).toString('utf8')), // SHORT_BINUNICODE
  0x8d: (m) => m.push(m.take(m.u64()).toString('utf8')), // BINUNICODE8
  0x43: (m) => m.push(Buffer.from(m.take(m.byte()))), // SHORT_BINBYTES
  0x42: (m) => m.push(Buffer.from(m.take(m.u32()))), // BINBYTES
  0x29: (m) => m.push([]), // EMPTY_TUPLE
  0x74: (m) => m.push(m.sequence(m.popMark())), // TUPLE
  0x85: (m) => m.push(m.sequence([m.pop()])), // TUPLE1
  0x86: (m) => {
    const b = m.pop();
    m.push(m.sequence([m.pop(), b]));
  }, // TUPLE2
  0x87: (m) => {
    const c = m.pop();
    const b = m.pop();
    m.push(m.sequence([m.pop(), b, c]));
  }, // TUPLE3
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x6c: (m) => m.push(m.sequence(m.popMark())), // LIST
  0x61: (m) => {
    const v = m.pop();
    appendItem(m, v);
  }, // APPEND
  0x65: (m) => appendItems(m, m.popMark()), // APPENDS
  0x7d: (m) => m.push(new Map()), // EMPTY_DICT
  0x64: (m) => {
    const items = m.popMark();
    m.push(new Map());
    setItems(m, items);
  }, // DICT
  0x73: (m) => {
    const v = m.pop();
    const k = m.pop();
    setItems(m, [k, v]);
  }, // SETITEM
  0x75: (m) => setItems(m, m.popMark()), // SETITEMS
  0x71: (m) => m.memoPut(m.byte()), // BINPUT
  0x72: (m) => m.memoPut(m.u32()), // LONG_BINPUT
  0x94: (m) => m.memoPut(m.memoSize()), // MEMOIZE
  0x68: (m) => m.push(m.memoGet(m.byte())), // BINGET
  0x6a: (m) => m.push(m.memoGet(m.u32())), // LONG_BINGET
  0x63: (m) => {
    const module = m.line();
    m.global(module, m.line());
  }, // GLOBAL
  0x93: stackGlobal, // STACK_GLOBAL
  0x52: reduce, // REDUCE
  0x62: build, // BUILD
  0x51: (m) => m.push(m.hooks.persistentLoad(m.pop())), // BINPERSID
};
