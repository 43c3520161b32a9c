// Factory functions: torch.tensor, zeros, ones, full, arange, rand, randn, randint, empty, *Like, fromBuffer.
import { types } from 'node:util';
import { N } from './native';
import type { DType } from './dtype';
import { dtypeCode, dtypeOfTypedArray, ITEMSIZE, toDType } from './dtype';
import { describeValue } from './io/describe';
import type { NestedArray, Scalar, Shape, Tensor } from './tensor';
import { wrap, arg } from './tensor';

export interface TensorOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

const code = (o: TensorOptions, fallback: DType = 'float32') => dtypeCode(o.dtype ?? fallback);
const shapeOf = (s: number | Shape) => (typeof s === 'number' ? [s] : s);

/**
 * torch.tensor: from nested arrays, a TypedArray or a scalar. Numbers default to float32 (JavaScript cannot tell
 * 1 from 1.0), booleans to bool, bigints to int64; a TypedArray keeps its own dtype unless one is given. Mixed
 * elements take the widest kind present, as PyTorch's inference does: bool < int64 < float32 ([true, 7] is [1., 7.]).
 */
type NestedBigInts = bigint | NestedBigInts[];
export function tensor(data: NestedArray | ArrayBufferView | NestedBigInts[], opts: TensorOptions = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const src = dtypeOfTypedArray(data);
    const t = wrap(
      N.fromBuffer(unshared(data), [(data as unknown as { length: number }).length], dtypeCode(src), 'cpu', false),
    );
    return finish(t, src, opts);
  }
  const shape: number[] = [];
  const flat: unknown[] = [];
  flattenNested(data, 0, shape, flat);
  const inferred = inferDType(flat);
  const dtype = opts.dtype === undefined ? inferred : toDType(opts.dtype);
  // Numbers meant for another dtype than float32 (float64, int64, ...) are packed as float64, so that they are
  // not first rounded to float32 (torch.tensor([0.1], dtype=torch.float64) is exactly 0.1).
  const packed: DType = inferred === 'float32' && dtype !== 'float32' ? 'float64' : inferred;
  const buf = packValues(flat, packed);
  const t = wrap(N.fromBuffer(buf, shape, dtypeCode(packed), 'cpu', false));
  return finish(t, packed, { ...opts, dtype });
}

function inferDType(values: unknown[]): DType {
  let kind: DType = 'bool';
  for (const v of values) {
    if (typeof v === 'number') return 'float32';
    if (typeof v === 'bigint') kind = 'int64';
  }
  return values.length === 0 ? 'float32' : kind;
}

function finish(t: Tensor, src: DType, opts: TensorOptions): Tensor {
  let out = t;
  if ((opts.dtype && opts.dtype !== src) || (opts.device && opts.device !== 'cpu')) {
    out = t.to({ dtype: opts.dtype, device: opts.device });
    t.dispose();
  }
  if (opts.requiresGrad) out.requiresGrad_(true);
  return out;
}

function flattenNested(value: unknown, depth: number, shape: number[], out: unknown[]): void {
  if (Array.isArray(value)) {
    // Elements already seen at this depth (out.length > 0 with shape.length === depth) were scalars: [1, [2]].
    if (shape.length === depth && out.length > 0)
      throw new Error(`tensor: ragged nested array (a sequence where a scalar was expected at dim ${depth})`);
    if (shape.length === depth) shape.push(value.length);
    else if (shape[depth] !== value.length)
      throw new Error(`tensor: expected a sequence of length ${shape[depth]} at dim ${depth} (got ${value.length})`);
    for (const v of value) flattenNested(v, depth + 1, shape, out);
    return;
  }
  if (shape.length !== depth)
    throw new Error(`tensor: ragged nested array (a scalar where a sequence was expected at dim ${depth})`);
  if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'bigint') {
    throw new TypeError(
      `tensor: elements must be numbers, booleans or bigints, got ${value === null ? 'null' : typeof value}`,
    );
  }
  out.push(value);
}

function packValues(values: unknown[], dtype: DType): ArrayBufferView {
  if (dtype === 'bool') return Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0));
  if (dtype === 'int64') return BigInt64Array.from(values as (bigint | boolean)[], (v) => BigInt(v));
  const toNumber = (v: unknown) => (typeof v === 'number' ? v : Number(v as bigint | boolean));
  if (dtype === 'float64') return Float64Array.from(values, toNumber);
  return Float32Array.from(values, toNumber);
}

// The native side reads a buffer's memory directly, which Node-API cannot do for a SharedArrayBuffer: copy its bytes
// into an ordinary one (the tensor copies them anyway).
function unshared(data: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): ArrayBufferView | ArrayBuffer {
  if (ArrayBuffer.isView(data))
    return types.isSharedArrayBuffer(data.buffer)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice()
      : data;
  return types.isSharedArrayBuffer(data) ? new Uint8Array(data).slice() : (data as ArrayBuffer);
}

/** Copies raw little-endian bytes (a Buffer, TypedArray, DataView or (Shared)ArrayBuffer) into a tensor of the given shape and dtype. */
export function fromBuffer(
  buffer: ArrayBufferView | ArrayBuffer | SharedArrayBuffer,
  shape: Shape,
  dtype: DType,
  opts: Omit<TensorOptions, 'dtype'> = {},
): Tensor {
  const name = toDType(dtype);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TypeError(`fromBuffer: shape must be a list of non-negative integers, got ${describeValue(shape, 80)}`);
  }
  if (!(ArrayBuffer.isView(buffer) || types.isAnyArrayBuffer(buffer))) {
    throw new TypeError(
      'fromBuffer: the data must be a Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer',
    );
  }
  const expected = shape.reduce((a, b) => a * b, 1) * ITEMSIZE[name];
  if (buffer.byteLength !== expected) {
    throw new Error(`fromBuffer: ${buffer.byteLength} bytes given, shape [${shape}] of ${name} needs ${expected}`);
  }
  return wrap(N.fromBuffer(unshared(buffer), shape, dtypeCode(name), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}

export function zeros(shape: number | Shape, opts: TensorOptions = {}): Tensor {
  return wrap(N.zeros(shapeOf(shape), code(opts), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}
export function ones(shape: number | Shape, opts: TensorOptions = {}): Tensor {
  return wrap(N.ones(shapeOf(shape), code(opts), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}
export function empty(shape: number | Shape, opts: TensorOptions = {}): Tensor {
  return wrap(N.empty(shapeOf(shape), code(opts), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}
export function full(shape: number | Shape, value: Scalar, opts: TensorOptions = {}): Tensor {
  const fallback: DType = typeof value === 'boolean' ? 'bool' : 'float32';
  return wrap(N.full(shapeOf(shape), value, code(opts, fallback), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}
/** Uniform on [0, 1). */
export function rand(shape: number | Shape, opts: TensorOptions = {}): Tensor {
  return wrap(N.rand(shapeOf(shape), code(opts), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}
/** Standard normal. */
export function randn(shape: number | Shape, opts: TensorOptions = {}): Tensor {
  return wrap(N.randn(shapeOf(shape), code(opts), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}
/** Integers in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: number | Shape, opts: TensorOptions = {}): Tensor {
  return wrap(N.randint(low, high, shapeOf(shape), code(opts, 'int64'), opts.device ?? 'cpu', false));
}
/** arange(end) or arange(start, end, step); int64 unless a bound is fractional or a dtype is given. */
export function arange(startOrEnd: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  const [start, stop] = end === undefined ? [0, startOrEnd] : [startOrEnd, end];
  const integral = [start, stop, step].every(Number.isInteger);
  return wrap(
    N.arange(
      start,
      stop,
      step,
      code(opts, integral ? 'int64' : 'float32'),
      opts.device ?? 'cpu',
      opts.requiresGrad ?? false,
    ),
  );
}
export function linspace(start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor {
  return wrap(N.linspace(start, end, steps, code(opts), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}
export function eye(n: number, opts: TensorOptions = {}): Tensor {
  return wrap(N.eye(n, code(opts), opts.device ?? 'cpu', opts.requiresGrad ?? false));
}

const likeOpts = (t: Tensor, opts: TensorOptions) => ({
  dtype: opts.dtype ?? t.dtype,
  device: opts.device ?? t.device,
  requiresGrad: opts.requiresGrad,
});
export const zerosLike = (t: Tensor, opts: TensorOptions = {}) => zeros(t.shape, likeOpts(t, opts));
export const onesLike = (t: Tensor, opts: TensorOptions = {}) => ones(t.shape, likeOpts(t, opts));
export const emptyLike = (t: Tensor, opts: TensorOptions = {}) => empty(t.shape, likeOpts(t, opts));
export const fullLike = (t: Tensor, value: Scalar, opts: TensorOptions = {}) => full(t.shape, value, likeOpts(t, opts));
export const randLike = (t: Tensor, opts: TensorOptions = {}) => rand(t.shape, likeOpts(t, opts));
export const randnLike = (t: Tensor, opts: TensorOptions = {}) => randn(t.shape, likeOpts(t, opts));

/** Seeds libtorch's generators; the same seed gives the same numbers as torch.manual_seed in Python. */
export function manualSeed(seed: number): void {
  N.manualSeed(seed);
}

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return wrap(N.cat(tensors.map(arg), dim));
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return wrap(N.stack(tensors.map(arg), dim));
}
