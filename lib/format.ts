// Prints tensors the way PyTorch's repr does: `tensor([[1., 2.], ...], dtype=torch.float64)`.
import type { Tensor } from './tensor';
import { isFloating } from './dtype';

const THRESHOLD = 1000;
const EDGE = 3;
const LINE_WIDTH = 80;

export function formatTensor(t: Tensor): string {
  const shape = t.shape;
  const dtype = t.dtype;
  const raw = Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);
  const summarize = raw.length > THRESHOLD;
  const fmt = dtype === 'bool' ? (v: number) => (v ? 'True' : 'False') : isFloating(dtype) ? floatFormatter(visible(raw, shape, summarize)) : (v: number) => String(v);
  const cells = raw.map(fmt);
  const width = Math.max(1, ...visible(cells, shape, summarize).map((c) => c.length));
  const body = shape.length === 0 ? cells[0] : block(cells, shape, 0, 0, width, 'tensor('.length, summarize);
  const suffix: string[] = [];
  const device = t.device;
  if (device !== 'cpu') suffix.push(`device='${device}'`);
  if (raw.length === 0 && shape.length > 1) suffix.push(`size=(${shape.join(', ')})`);
  if (!['float32', 'int64', 'bool'].includes(dtype)) suffix.push(`dtype=torch.${dtype}`);
  if (t.requiresGrad) suffix.push('requires_grad=True');
  return `tensor(${body}${suffix.length ? ', ' + suffix.join(', ') : ''})`;
}

// The elements that will be printed (edges only when summarising), which decide the number format.
function visible<T>(values: T[], shape: number[], summarize: boolean): T[] {
  if (!summarize) return values;
  const out: T[] = [];
  const walk = (dim: number, offset: number) => {
    const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    const idx = [...Array(shape[dim]).keys()];
    const kept = shape[dim] > 2 * EDGE ? [...idx.slice(0, EDGE), ...idx.slice(-EDGE)] : idx;
    for (const i of kept) {
      if (dim === shape.length - 1) out.push(values[offset + i]);
      else walk(dim + 1, offset + i * stride);
    }
  };
  if (shape.length) walk(0, 0);
  return out;
}

function floatFormatter(values: number[]): (v: number) => string {
  const finite = values.filter((v) => Number.isFinite(v));
  const nonzero = finite.map(Math.abs).filter((v) => v !== 0);
  const special = (v: number) => (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  if (nonzero.length === 0) return (v) => (Number.isFinite(v) ? '0.' : special(v));
  const max = Math.max(...nonzero);
  const min = Math.min(...nonzero);
  const allInts = finite.every((v) => Math.round(v) === v);
  if (allInts) {
    if (max > 1e8) return (v) => (Number.isFinite(v) ? sci(v) : special(v));
    return (v) => (Number.isFinite(v) ? `${v.toFixed(0)}.` : special(v));
  }
  if (max / min > 1000 || max > 1e8 || min < 1e-4) return (v) => (Number.isFinite(v) ? sci(v) : special(v));
  return (v) => (Number.isFinite(v) ? v.toFixed(4) : special(v));
}

function sci(v: number): string {
  const [m, e] = v.toExponential(4).split('e');
  const exp = Number(e);
  return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

function block(cells: string[], shape: number[], dim: number, offset: number, width: number, indent: number, summarize: boolean): string {
  const n = shape[dim];
  const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const items: string[] = [];
  const skip = summarize && n > 2 * EDGE;
  for (let i = 0; i < n; i++) {
    if (skip && i === EDGE) {
      items.push('...');
      i = n - EDGE - 1;
      continue;
    }
    items.push(dim === shape.length - 1 ? cells[offset + i].padStart(width) : block(cells, shape, dim + 1, offset + i * stride, width, indent + 1, summarize));
  }
  if (dim === shape.length - 1) return `[${wrapLine(items, indent + 1)}]`;
  const sep = ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + 1);
  return `[${items.join(sep)}]`;
}

function wrapLine(items: string[], indent: number): string {
  const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent) / ((items[0]?.length ?? 1) + 2)));
  if (items.length <= perLine) return items.join(', ');
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
  return lines.join(',\n' + ' '.repeat(indent));
}
