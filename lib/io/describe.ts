// Short descriptions of untrusted values for error messages. JSON.stringify or String() of a parsed value can take
// time exponential in the input's size: a pickle can build 60 levels of [x, x] from shared references in under 1 KB,
// whose text is 2^60 items long. Here the walk stops after a fixed number of characters, whatever the shape.

const DEFAULT_LIMIT = 200;

/** A JSON-like rendering of `value`, cut to about `limit` characters (an ellipsis marks the cut). */
export function describeValue(value: unknown, limit = DEFAULT_LIMIT): string {
  const out = new BoundedText(limit);
  write(value, out, 0);
  return out.text();
}

// Nesting deeper than this prints as an ellipsis: the budget bounds breadth, this bounds the recursion itself.
const MAX_DEPTH = 16;

class BoundedText {
  private readonly parts: string[] = [];
  private length = 0;
  private cut = false;

  constructor(private readonly limit: number) {}

  get full(): boolean {
    return this.length >= this.limit;
  }

  add(s: string): void {
    const room = this.limit - this.length;
    if (s.length > room) this.cut = true;
    if (room <= 0) return;
    const piece = s.slice(0, room);
    this.parts.push(piece);
    this.length += piece.length;
  }

  text(): string {
    return this.parts.join('') + (this.cut ? '…' : '');
  }
}

function write(v: unknown, out: BoundedText, depth: number): void {
  if (out.full) {
    out.add('…');
    return;
  }
  if (depth > MAX_DEPTH) {
    out.add('…');
    return;
  }
  if (typeof v === 'string') {
    out.add(JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}…` : v));
    return;
  }
  if (typeof v === 'bigint') {
    out.add(`${v}n`);
    return;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) {
    out.add(String(v));
    return;
  }
  if (typeof v === 'symbol' || typeof v === 'function') {
    out.add(typeof v);
    return;
  }
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    out.add(`<${v.length} bytes>`);
    return;
  }
  const named = v as { kind?: unknown; name?: unknown };
  if (typeof named.kind === 'string' && typeof named.name === 'string') {
    out.add(named.name.slice(0, 100));
    return;
  }
  if (Array.isArray(v)) {
    writeItems(v, '[', ']', out, (x) => write(x, out, depth + 1));
    return;
  }
  if (v instanceof Map) {
    writeItems(v, '{', '}', out, ([k, x]: [unknown, unknown]) => {
      write(k, out, depth + 1);
      out.add(': ');
      write(x, out, depth + 1);
    });
    return;
  }
  // Through descriptors: a getter (a checkpoint tensor's lazy `data`) is not run to describe it.
  writeItems(Object.keys(v as object), '{', '}', out, (k: string) => {
    out.add(`${JSON.stringify(k.slice(0, 100))}: `);
    const d = Object.getOwnPropertyDescriptor(v, k);
    if (d && 'value' in d) write(d.value, out, depth + 1);
    else out.add('…');
  });
}

function writeItems<T>(
  items: Iterable<T>,
  open: string,
  close: string,
  out: BoundedText,
  each: (item: T) => void,
): void {
  out.add(open);
  let first = true;
  for (const item of items) {
    if (out.full) {
      out.add('…');
      return;
    }
    if (!first) out.add(', ');
    first = false;
    each(item);
  }
  out.add(close);
}

/** `text` cut to `limit` characters, for names read from a file that go into a message. */
export function clipText(text: string, limit = DEFAULT_LIMIT): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
