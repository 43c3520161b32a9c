// Prints tensors the way PyTorch's repr does: `tensor([[1., 2.], ...], dtype=torch.float64)`.
// A port of torch/_tensor_str.py (default print options): _Formatter, _vector_str, _tensor_str_with_formatter,
// get_summarized_data and _add_suffixes.
import type { Tensor } from './tensor';
import { N } from './native';
import { isFloating } from './dtype';

const PRECISION = 4;
const THRESHOLD = 1000;
const EDGE = 3;
const LINE_WIDTH = 80;

export function formatTensor(t: Tensor): string {
  const shape = t.shape;
  const dtype = t.dtype;
  const numel = shape.reduce((a, b) => a * b, 1);
  const prefix = 'tensor(';
  const indent = prefix.length;
  const suffixes: string[] = [];
  const device = t.device;
  if (device !== 'cpu') suffixes.push(`device='${device}'`);
  let body: string;
  if (numel === 0) {
    // No elements to infer int64/bool from, so every dtype but the default is named.
    if (shape.length !== 1) suffixes.push(`size=(${shape.join(', ')})`);
    if (dtype !== 'float32') suffixes.push(`dtype=torch.${dtype}`);
    body = '[]';
  } else {
    if (!['float32', 'int64', 'bool'].includes(dtype)) suffixes.push(`dtype=torch.${dtype}`);
    const summarize = numel > THRESHOLD;
    // Only what is printed is read back: the edges of every long dimension (at most 6^ndim values), never the
    // whole tensor (zeros([1e8]) took 2.6 GB and 13 s for a 38-character text).
    const values = summarize ? edgeValues(t) : Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);
    const printedShape = summarize ? shape.map((n) => (n > 2 * EDGE ? 2 * EDGE : n)) : shape;
    const kind: Kind = dtype === 'bool' ? 'bool' : isFloating(dtype) ? 'float' : 'int';
    const fmt = new Formatter(values, kind);
    body = tensorStr(values, printedShape, shape, 0, 0, indent, summarize, fmt);
  }
  // Like PyTorch: the node that made a non-leaf (grad_fn=<MulBackward0>), or requires_grad=True on a leaf.
  const gradFn: string | null = t.requiresGrad ? N.gradFnName(t._h) : null;
  if (gradFn !== null) suffixes.push(`grad_fn=<${gradFn}>`);
  else if (t.requiresGrad) suffixes.push('requires_grad=True');
  return addSuffixes(prefix + body, suffixes, indent);
}

type Kind = 'bool' | 'int' | 'float';

// _Formatter: decides int/fixed/scientific mode and the column width from the (summarised) values.
class Formatter {
  intMode = true;
  sciMode = false;
  maxWidth = 1;

  constructor(
    values: number[],
    private readonly kind: Kind,
  ) {
    if (kind !== 'float') {
      for (const v of values) this.maxWidth = Math.max(this.maxWidth, this.plain(v).length);
      return;
    }
    const nonzero = values.filter((v) => Number.isFinite(v) && v !== 0);
    if (nonzero.length === 0) return;
    const abs = nonzero.map(Math.abs);
    let min = Infinity;
    let max = 0;
    for (const a of abs) {
      if (a < min) min = a;
      if (a > max) max = a;
    }
    this.intMode = nonzero.every((v) => v === Math.ceil(v));
    if (this.intMode) {
      if (max / min > 1000 || max > 1e8) {
        this.sciMode = true;
        for (const v of nonzero) this.maxWidth = Math.max(this.maxWidth, sci(v).length);
      } else {
        for (const v of nonzero) this.maxWidth = Math.max(this.maxWidth, fixed(v, 0).length + 1);
      }
    } else if (max / min > 1000 || max > 1e8 || min < 1e-4) {
      this.sciMode = true;
      for (const v of nonzero) this.maxWidth = Math.max(this.maxWidth, sci(v).length);
    } else {
      for (const v of nonzero) this.maxWidth = Math.max(this.maxWidth, fixed(v, PRECISION).length);
    }
  }

  private plain(v: number): string {
    return this.kind === 'bool' ? (v ? 'True' : 'False') : String(v);
  }

  format(v: number): string {
    let s: string;
    if (this.kind !== 'float') s = this.plain(v);
    else if (!Number.isFinite(v)) s = Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
    else if (this.sciMode) s = sci(v);
    else if (this.intMode) s = `${fixed(v, 0)}.`;
    else s = fixed(v, PRECISION);
    return s.padStart(this.maxWidth);
  }
}

// Python's '{:.Nf}': round half to even on the exact binary value (toFixed rounds exact ties away from zero).
function fixed(v: number, digits: number): string {
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  const a = Math.abs(v);
  let s = a.toFixed(digits);
  if (a < 1e21) {
    const exact = a.toFixed(Math.min(100, digits + 30));
    const cut = exact.length - 30;
    if (/^50*$/.test(exact.slice(cut))) {
      // An exact tie: keep the truncated digits when the last kept digit is even.
      const kept = exact.slice(0, cut).replace(/\.$/, '');
      const last = kept.replace('.', '').slice(-1);
      if (Number(last) % 2 === 0) s = kept;
    }
  }
  return sign + s;
}

// Python's '{:.4e}' (two-digit exponent at least, ties to even).
function sci(v: number): string {
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  const a = Math.abs(v);
  let [m, e] = a.toExponential(PRECISION).split('e');
  const [em, ee] = a.toExponential(PRECISION + 30).split('e');
  const tail = em.slice(em.length - 30);
  if (/^50*$/.test(tail)) {
    const kept = em.slice(0, em.length - 30);
    if (Number(kept.slice(-1)) % 2 === 0) [m, e] = [kept, ee];
  }
  const exp = Number(e);
  return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

// get_summarized_data: the first and last EDGE entries of every dimension longer than 2·EDGE, as a tensor of those
// entries only (narrow and cat on views), read back flat in C order.
function edgeValues(t: Tensor): number[] {
  // On native handles, so that printing needs nothing that makes Tensors (creation.ts imports tensor.ts, which
  // imports this file: issue 13's import-graph test refuses the cycle).
  const made: number[] = [];
  let edges = t._h;
  t.shape.forEach((n, dim) => {
    if (n <= 2 * EDGE) return;
    const head = N.narrow(edges, dim, 0, EDGE);
    const tail = N.narrow(edges, dim, n - EDGE, EDGE);
    edges = N.cat([head, tail], dim);
    made.push(head, tail, edges);
  });
  try {
    return Array.from(N.dataSync(edges) as ArrayLike<number | bigint>, Number);
  } finally {
    for (const h of made) N.dispose(h);
  }
}

// _tensor_str_with_formatter / _vector_str. `values` hold `shape` in C order; when summarising, `shape` keeps only
// the edges of each dimension that `fullShape` says is longer than 2·EDGE, and a '...' marks the gap.
function tensorStr(
  values: number[],
  shape: number[],
  fullShape: number[],
  dim: number,
  offset: number,
  indent: number,
  summarize: boolean,
  fmt: Formatter,
): string {
  if (shape.length === 0) return fmt.format(values[0]);
  const n = shape[dim];
  const skip = summarize && fullShape[dim] > 2 * EDGE;
  const idx = skip ? [0, 1, 2, -1, 3, 4, 5] : [...Array(n).keys()];
  const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  if (dim === shape.length - 1) {
    const data = idx.map((i) => (i < 0 ? ' ...' : fmt.format(values[offset + i])));
    const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent) / (fmt.maxWidth + 2)));
    const lines: string[] = [];
    for (let i = 0; i < data.length; i += perLine) lines.push(data.slice(i, i + perLine).join(', '));
    return `[${lines.join(',\n' + ' '.repeat(indent + 1))}]`;
  }
  const slices = idx.map((i) =>
    i < 0 ? '...' : tensorStr(values, shape, fullShape, dim + 1, offset + i * stride, indent + 1, summarize, fmt),
  );
  const remaining = shape.length - dim;
  return `[${slices.join(',' + '\n'.repeat(remaining - 1) + ' '.repeat(indent + 1))}]`;
}

// _add_suffixes: `, dtype=...` on the last line, or on a new line when it would pass the line width.
function addSuffixes(text: string, suffixes: string[], indent: number): string {
  const parts = [text];
  let lastLineLen = text.length - text.lastIndexOf('\n') + 1;
  for (const suffix of suffixes) {
    if (lastLineLen + suffix.length + 2 > LINE_WIDTH) {
      parts.push(',\n' + ' '.repeat(indent) + suffix);
      lastLineLen = indent + suffix.length;
    } else {
      parts.push(', ' + suffix);
      lastLineLen += suffix.length + 2;
    }
  }
  parts.push(')');
  return parts.join('');
}
