// The Tensor class: a thin handle over a libtorch tensor, with PyTorch's method names and broadcasting.
import { N } from './native';
import type { DType, TypedArray } from './dtype';
import { dtypeCode, dtypeName } from './dtype';
import { track, untrack } from './scope';
import { formatTensor } from './format';

export type Shape = number[];
export type Scalar = number | boolean;
export type NestedArray = number | boolean | NestedArray[];

// `using t = ...` needs Symbol.dispose: Node 18.18+/20+ define it, older runtimes and jest's vm contexts do not.
// Without this the method below would be installed under the key "undefined".
(Symbol as { dispose?: symbol }).dispose ??= Symbol.for('nodejs.dispose');

// Only wrap() below makes Tensors: a handle number from elsewhere (a live tensor's, a worker's, NaN) must not
// become a second owner of someone else's tensor. The native table refuses stale and foreign handles as well.
const CONSTRUCT = Symbol('Tensor construction');

// Handles are integers from the native table; a disposed tensor's handle is -1, which the native side refuses.
export class Tensor {
  /** @internal */ _h: number;
  /** @internal */ _kept = false;
  /** @internal */ _registered = false;

  /** @internal Not callable from outside: use the factory functions (`tensor`, `zeros`, ...). */
  constructor(handle: number, token?: symbol) {
    if (token !== CONSTRUCT) throw new TypeError('Tensor cannot be constructed from a handle: use tensor(), zeros(), fromBuffer() and the other factories');
    this._h = handle;
  }

  // ------------------------------------------------------------ lifetime
  dispose(): void {
    if (this._h < 0) return;
    untrack(this);
    N.dispose(this._h);
    this._h = -1;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /**
   * @internal Disposes, and marks the storage's block (when the CPU cache's allocator made it: cpu.enableTuning) to
   * go back to the system instead of to the cache once its last reference is freed: for bulk frees whose sizes will
   * not come back, such as the old weights of a cast model.
   */
  _disposeUncached(): void {
    if (this._h < 0) return;
    N.skipCache(this._h);
    this.dispose();
  }
  get isDisposed(): boolean {
    return this._h < 0 || !N.isValid(this._h);
  }
  /** @internal The native handle; throws if the tensor has been disposed. */
  get handle(): number {
    if (this._h < 0) throw new Error('Tensor has been disposed');
    return this._h;
  }

  // ------------------------------------------------------------ metadata
  get shape(): Shape { return N.shape(this._h); }
  size(dim?: number): number | Shape {
    const s: Shape = N.shape(this._h);
    return dim === undefined ? s : s[dim < 0 ? s.length + dim : dim];
  }
  get dtype(): DType { return dtypeName(N.dtype(this._h)); }
  get device(): string { return N.device(this._h); }
  get ndim(): number { return N.dim(this._h); }
  dim(): number { return N.dim(this._h); }
  numel(): number { return N.numel(this._h); }
  get isLeaf(): boolean { return N.isLeaf(this._h); }
  isContiguous(): boolean { return N.isContiguous(this._h); }
  get isCuda(): boolean { return this.device.startsWith('cuda'); }

  // ------------------------------------------------------------ autograd
  get requiresGrad(): boolean { return N.requiresGrad(this._h); }
  set requiresGrad(v: boolean) { N.requiresGrad_(this._h, v); }
  requiresGrad_(v = true): this { N.requiresGrad_(this._h, v); return this; }
  /** The accumulated gradient, or null. Each read returns a new handle to the same storage. */
  get grad(): Tensor | null {
    const h = N.grad(this._h);
    return h === null ? null : wrap(h);
  }
  set grad(g: Tensor | null) { N.setGrad(this._h, g === null ? -1 : arg(g)); }
  /** Whether .grad is set, without making a handle for it. */
  get hasGrad(): boolean { return N.hasGrad(this._h); }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    N.backward(this._h, gradient ? arg(gradient) : -1, opts.retainGraph, opts.createGraph ?? false);
  }
  retainGrad(): this { N.retainGrad(this._h); return this; }
  detach(): Tensor { return wrap(N.detach(this._h)); }
  detach_(): this { N.detach_(this._h); return this; }

  // ------------------------------------------------------------ conversion and read-back
  to(target: string | DType | { dtype?: DType; device?: string }, opts: { copy?: boolean } = {}): Tensor {
    let dtype: DType | undefined;
    let device: string | undefined;
    if (typeof target === 'string') {
      if (isDeviceString(target)) device = target;
      else {
        try {
          dtypeCode(target);
        } catch {
          throw new TypeError(`to: '${target}' is neither a dtype (float32, float64, float16, bfloat16, int64, ...) nor a device (cpu, cuda, cuda:N)`);
        }
        dtype = target as DType;
      }
    } else ({ dtype, device } = target);
    return wrap(N.to(this._h, dtype ? dtypeCode(dtype) : -1, device ?? null, opts.copy ?? false));
  }
  cpu(): Tensor { return this.to('cpu'); }
  cuda(index = 0): Tensor { return this.to(`cuda:${index}`); }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  half(): Tensor { return this.to('float16'); }
  bfloat16(): Tensor { return this.to('bfloat16'); }
  long(): Tensor { return this.to('int64'); }
  int(): Tensor { return this.to('int32'); }
  bool(): Tensor { return this.to('bool'); }

  /** A copy of the elements as a TypedArray (float16/bfloat16 widen to Float32Array, int64 gives BigInt64Array). */
  dataSync(): TypedArray { return N.dataSync(this._h); }
  /** Like dataSync, but the copy (and any GPU wait) runs off the event loop. */
  data(): Promise<TypedArray> { return N.dataAsync(this._h); }
  /** The raw bytes in this tensor's dtype, C-contiguous. */
  bytes(): Buffer { return N.bytes(this._h); }
  item(): number | boolean { return N.item(this._h); }
  /** Nested arrays like `tolist()`; int64 values become numbers. */
  toArray(): NestedArray {
    const flat = this.dataSync();
    const isBool = this.dtype === 'bool';
    const values: (number | boolean)[] = Array.from(flat as ArrayLike<number | bigint>, (v) => (isBool ? v !== 0 : Number(v)));
    return nest(values, this.shape);
  }
  tolist(): NestedArray { return this.toArray(); }
  toString(): string { return this._h < 0 ? 'Tensor(disposed)' : formatTensor(this); }
  [Symbol.for('nodejs.util.inspect.custom')](): string { return this._h < 0 ? 'Tensor(disposed)' : formatTensor(this); }

  // ------------------------------------------------------------ arithmetic (tensor or scalar, broadcasting)
  add(other: Tensor | Scalar, alpha?: number): Tensor {
    if (typeof other !== 'object') return wrap(N.addScalar(this._h, alpha === undefined ? other : Number(other) * alpha));
    return wrap(alpha === undefined ? N.add(this._h, arg(other)) : N.addScaled(this._h, arg(other), alpha));
  }
  sub(other: Tensor | Scalar, alpha?: number): Tensor {
    if (typeof other !== 'object') return wrap(N.subScalar(this._h, alpha === undefined ? other : Number(other) * alpha));
    return wrap(alpha === undefined ? N.sub(this._h, arg(other)) : N.addScaled(this._h, arg(other), -alpha));
  }
  mul(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.mul(this._h, arg(other)) : N.mulScalar(this._h, other)); }
  div(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.div(this._h, arg(other)) : N.divScalar(this._h, other)); }
  pow(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.pow(this._h, arg(other)) : N.powScalar(this._h, other)); }
  remainder(other: Tensor | Scalar): Tensor {
    return wrap(typeof other === 'object' ? N.remainder(this._h, arg(other)) : N.remainderScalar(this._h, other));
  }
  /** other - this */
  rsub(other: Scalar): Tensor { return wrap(N.rsubScalar(this._h, other)); }
  /** other / this */
  rdiv(other: Scalar): Tensor { return wrap(N.rdivScalar(this._h, other)); }
  maximum(other: Tensor): Tensor { return wrap(N.maximum(this._h, arg(other))); }
  minimum(other: Tensor): Tensor { return wrap(N.minimum(this._h, arg(other))); }
  matmul(other: Tensor): Tensor { return wrap(N.matmul(this._h, arg(other))); }
  mm(other: Tensor): Tensor { return wrap(N.mm(this._h, arg(other))); }
  bmm(other: Tensor): Tensor { return wrap(N.bmm(this._h, arg(other))); }
  dot(other: Tensor): Tensor { return wrap(N.dot(this._h, arg(other))); }
  outer(other: Tensor): Tensor { return wrap(N.outer(this._h, arg(other))); }

  neg(): Tensor { return wrap(N.neg(this._h)); }
  abs(): Tensor { return wrap(N.abs(this._h)); }
  exp(): Tensor { return wrap(N.exp(this._h)); }
  log(): Tensor { return wrap(N.log(this._h)); }
  log1p(): Tensor { return wrap(N.log1p(this._h)); }
  expm1(): Tensor { return wrap(N.expm1(this._h)); }
  sqrt(): Tensor { return wrap(N.sqrt(this._h)); }
  rsqrt(): Tensor { return wrap(N.rsqrt(this._h)); }
  square(): Tensor { return wrap(N.square(this._h)); }
  reciprocal(): Tensor { return wrap(N.reciprocal(this._h)); }
  sin(): Tensor { return wrap(N.sin(this._h)); }
  cos(): Tensor { return wrap(N.cos(this._h)); }
  tanh(): Tensor { return wrap(N.tanh(this._h)); }
  sigmoid(): Tensor { return wrap(N.sigmoid(this._h)); }
  relu(): Tensor { return wrap(N.relu(this._h)); }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return wrap(N.gelu(this._h, approximate)); }
  silu(): Tensor { return wrap(N.silu(this._h)); }
  erf(): Tensor { return wrap(N.erf(this._h)); }
  floor(): Tensor { return wrap(N.floor(this._h)); }
  ceil(): Tensor { return wrap(N.ceil(this._h)); }
  round(): Tensor { return wrap(N.round(this._h)); }
  sign(): Tensor { return wrap(N.sign(this._h)); }
  clamp(min?: number | null, max?: number | null): Tensor { return wrap(N.clamp(this._h, min ?? null, max ?? null)); }
  softmax(dim: number): Tensor { return wrap(N.softmax(this._h, dim)); }
  logSoftmax(dim: number): Tensor { return wrap(N.logSoftmax(this._h, dim)); }

  // ------------------------------------------------------------ comparisons and logic
  eq(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.eq(this._h, arg(other)) : N.eqScalar(this._h, other)); }
  ne(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.ne(this._h, arg(other)) : N.neScalar(this._h, other)); }
  lt(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.lt(this._h, arg(other)) : N.ltScalar(this._h, other)); }
  le(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.le(this._h, arg(other)) : N.leScalar(this._h, other)); }
  gt(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.gt(this._h, arg(other)) : N.gtScalar(this._h, other)); }
  ge(other: Tensor | Scalar): Tensor { return wrap(typeof other === 'object' ? N.ge(this._h, arg(other)) : N.geScalar(this._h, other)); }
  logicalAnd(other: Tensor): Tensor { return wrap(N.logicalAnd(this._h, arg(other))); }
  logicalOr(other: Tensor): Tensor { return wrap(N.logicalOr(this._h, arg(other))); }
  logicalNot(): Tensor { return wrap(N.logicalNot(this._h)); }
  isnan(): Tensor { return wrap(N.isnan(this._h)); }
  isinf(): Tensor { return wrap(N.isinf(this._h)); }
  /** True when both have the same shape and elements (torch.equal). */
  equal(other: Tensor): boolean {
    const h = N.equal(this._h, arg(other));
    const r = N.item(h) as boolean;
    N.dispose(h);
    return r;
  }
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
    const a = this.double().dataSync() as Float64Array;
    const b = other.double().dataSync() as Float64Array;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]))) return false;
    return true;
  }
  where(condition: Tensor, other: Tensor | Scalar): Tensor { return where(condition, this, other); }
  maskedFill(mask: Tensor, value: Scalar): Tensor { return wrap(N.maskedFill(this._h, arg(mask), value)); }

  // ------------------------------------------------------------ reductions
  sum(dim?: number | number[] | null, keepdim = false, opts: { dtype?: DType } = {}): Tensor {
    return wrap(N.sum(this._h, dim ?? null, keepdim, opts.dtype ? dtypeCode(opts.dtype) : -1));
  }
  mean(dim?: number | number[] | null, keepdim = false, opts: { dtype?: DType } = {}): Tensor {
    return wrap(N.mean(this._h, dim ?? null, keepdim, opts.dtype ? dtypeCode(opts.dtype) : -1));
  }
  /** max() over everything, or [values, indices] along `dim` like torch.max(x, dim). */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): [Tensor, Tensor];
  max(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim === undefined) return wrap(N.amax(this._h, null, false));
    const [v, i] = N.maxDim(this._h, dim, keepdim);
    return [wrap(v), wrap(i)];
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): [Tensor, Tensor];
  min(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim === undefined) return wrap(N.amin(this._h, null, false));
    const [v, i] = N.minDim(this._h, dim, keepdim);
    return [wrap(v), wrap(i)];
  }
  amax(dim: number | number[], keepdim = false): Tensor { return wrap(N.amax(this._h, dim, keepdim)); }
  amin(dim: number | number[], keepdim = false): Tensor { return wrap(N.amin(this._h, dim, keepdim)); }
  argmax(dim?: number, keepdim = false): Tensor { return wrap(N.argmax(this._h, dim ?? null, keepdim)); }
  argmin(dim?: number, keepdim = false): Tensor { return wrap(N.argmin(this._h, dim ?? null, keepdim)); }
  prod(dim?: number, keepdim = false): Tensor { return wrap(N.prod(this._h, dim ?? null, keepdim)); }
  logsumexp(dim: number | number[], keepdim = false): Tensor { return wrap(N.logsumexp(this._h, dim, keepdim)); }
  /** Variance; `unbiased` (Bessel's correction) is on by default as in PyTorch. */
  var(dim?: number | number[] | null, opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return wrap(N.var(this._h, dim ?? null, opts.unbiased ?? true, opts.keepdim ?? false));
  }
  std(dim?: number | number[] | null, opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return wrap(N.std(this._h, dim ?? null, opts.unbiased ?? true, opts.keepdim ?? false));
  }
  norm(p = 2, dim?: number | number[] | null, keepdim = false): Tensor { return wrap(N.norm(this._h, p, dim ?? null, keepdim)); }
  all(dim?: number, keepdim = false): Tensor { return wrap(N.all(this._h, dim ?? null, keepdim)); }
  any(dim?: number, keepdim = false): Tensor { return wrap(N.any(this._h, dim ?? null, keepdim)); }
  cumsum(dim: number): Tensor { return wrap(N.cumsum(this._h, dim)); }
  topk(k: number, dim = -1, largest = true): [Tensor, Tensor] {
    const [v, i] = N.topk(this._h, k, dim, largest);
    return [wrap(v), wrap(i)];
  }
  sort(dim = -1, descending = false): [Tensor, Tensor] {
    const [v, i] = N.sort(this._h, dim, descending);
    return [wrap(v), wrap(i)];
  }

  // ------------------------------------------------------------ shape
  view(...shape: (number | number[])[]): Tensor { return wrap(N.view(this._h, shapeArgs(shape))); }
  reshape(...shape: (number | number[])[]): Tensor { return wrap(N.reshape(this._h, shapeArgs(shape))); }
  viewAs(other: Tensor): Tensor { return wrap(N.viewAs(this._h, arg(other))); }
  transpose(dim0: number, dim1: number): Tensor { return wrap(N.transpose(this._h, dim0, dim1)); }
  get T(): Tensor { return wrap(N.t(this._h)); }
  t(): Tensor { return wrap(N.t(this._h)); }
  permute(...dims: (number | number[])[]): Tensor { return wrap(N.permute(this._h, shapeArgs(dims))); }
  contiguous(): Tensor { return wrap(N.contiguous(this._h)); }
  squeeze(dim?: number): Tensor { return wrap(N.squeeze(this._h, dim ?? null)); }
  unsqueeze(dim: number): Tensor { return wrap(N.unsqueeze(this._h, dim)); }
  expand(...shape: (number | number[])[]): Tensor { return wrap(N.expand(this._h, shapeArgs(shape))); }
  expandAs(other: Tensor): Tensor { return wrap(N.expandAs(this._h, arg(other))); }
  repeat(...sizes: (number | number[])[]): Tensor { return wrap(N.repeat(this._h, shapeArgs(sizes))); }
  flatten(startDim = 0, endDim = -1): Tensor { return wrap(N.flatten(this._h, startDim, endDim)); }
  flip(dims: number | number[]): Tensor { return wrap(N.flip(this._h, dims)); }
  tril(diagonal = 0): Tensor { return wrap(N.tril(this._h, diagonal)); }
  triu(diagonal = 0): Tensor { return wrap(N.triu(this._h, diagonal)); }

  // ------------------------------------------------------------ indexing
  narrow(dim: number, start: number, length: number): Tensor { return wrap(N.narrow(this._h, dim, start, length)); }
  select(dim: number, index: number): Tensor { return wrap(N.select(this._h, dim, index)); }
  /** x[start:end:step] along dim; null/undefined bounds mean the ends. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return wrap(N.slice(this._h, dim, start ?? null, end ?? null, step));
  }
  indexSelect(dim: number, index: Tensor): Tensor { return wrap(N.indexSelect(this._h, dim, arg(index))); }
  gather(dim: number, index: Tensor): Tensor { return wrap(N.gather(this._h, dim, arg(index))); }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor { return wrap(N.scatter(this._h, dim, arg(index), arg(src))); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return wrap(N.scatterAdd(this._h, dim, arg(index), arg(src))); }
  /** Advanced indexing x[i0, i1, ...] with index tensors; null keeps a dimension whole (like `:`). */
  index(indices: (Tensor | null)[]): Tensor { return wrap(N.index(this._h, indices.map((t) => (t === null ? -1 : arg(t))))); }
  maskedSelect(mask: Tensor): Tensor { return wrap(N.maskedSelect(this._h, arg(mask))); }
  nonzero(): Tensor { return wrap(N.nonzero(this._h)); }
  split(splitSizeOrSections: number | number[], dim = 0): Tensor[] { return N.split(this._h, splitSizeOrSections, dim).map(wrap); }
  chunk(chunks: number, dim = 0): Tensor[] { return N.chunk(this._h, chunks, dim).map(wrap); }
  unbind(dim = 0): Tensor[] { return N.unbind(this._h, dim).map(wrap); }

  clone(): Tensor { return wrap(N.clone(this._h)); }

  // ------------------------------------------------------------ in place (return this, like PyTorch)
  add_(other: Tensor | Scalar, alpha?: number): this {
    if (typeof other !== 'object') N.addScalar_(this._h, alpha === undefined ? other : Number(other) * alpha);
    else if (alpha === undefined) N.add_(this._h, arg(other));
    else N.addScaled_(this._h, arg(other), alpha);
    return this;
  }
  sub_(other: Tensor | Scalar): this {
    if (typeof other === 'object') N.sub_(this._h, arg(other));
    else N.subScalar_(this._h, other);
    return this;
  }
  mul_(other: Tensor | Scalar): this {
    if (typeof other === 'object') N.mul_(this._h, arg(other));
    else N.mulScalar_(this._h, other);
    return this;
  }
  div_(other: Tensor | Scalar): this {
    if (typeof other === 'object') N.div_(this._h, arg(other));
    else N.divScalar_(this._h, other);
    return this;
  }
  pow_(exponent: number): this { N.powScalar_(this._h, exponent); return this; }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this { N.addcmul_(this._h, arg(t1), arg(t2), value); return this; }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this { N.addcdiv_(this._h, arg(t1), arg(t2), value); return this; }
  lerp_(end: Tensor, weight: number): this { N.lerp_(this._h, arg(end), weight); return this; }
  zero_(): this { N.zero_(this._h); return this; }
  fill_(value: Scalar): this { N.fill_(this._h, value); return this; }
  copy_(src: Tensor): this { N.copy_(this._h, arg(src)); return this; }
  relu_(): this { N.relu_(this._h); return this; }
  neg_(): this { N.neg_(this._h); return this; }
  exp_(): this { N.exp_(this._h); return this; }
  sqrt_(): this { N.sqrt_(this._h); return this; }
  clamp_(min?: number | null, max?: number | null): this { N.clamp_(this._h, min ?? null, max ?? null); return this; }
  maskedFill_(mask: Tensor, value: Scalar): this { N.maskedFill_(this._h, arg(mask), value); return this; }
  normal_(mean = 0, std = 1): this { N.normal_(this._h, mean, std); return this; }
  uniform_(from = 0, to = 1): this { N.uniform_(this._h, from, to); return this; }
}

// ------------------------------------------------------------ helpers shared by the other modules
/** @internal Wraps a fresh native handle and hands it to the current scope. */
export function wrap(h: number): Tensor {
  const t = new Tensor(h, CONSTRUCT);
  track(t);
  return t;
}

/** @internal The handle of a tensor argument, with a clear error for anything else. */
export function arg(t: unknown): number {
  if (t instanceof Tensor) {
    // A disposed handle is -1, which the native side would read as "no tensor" where an argument is optional.
    if (t._h < 0) throw new Error('expected a Tensor, got one that has been disposed');
    return t._h;
  }
  throw new TypeError(`expected a Tensor, got ${t === null ? 'null' : Array.isArray(t) ? 'an array' : typeof t}`);
}

function shapeArgs(args: (number | number[])[]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as number[]);
}

function isDeviceString(s: string): boolean {
  return s === 'cpu' || s.startsWith('cuda') || s === 'mps' || s === 'meta';
}

function nest(values: (number | boolean)[], shape: Shape): NestedArray {
  if (shape.length === 0) return values[0];
  const build = (dim: number, offset: number): NestedArray[] => {
    const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    const out: NestedArray[] = [];
    for (let i = 0; i < shape[dim]; i++) {
      out.push(dim === shape.length - 1 ? values[offset + i] : build(dim + 1, offset + i * stride));
    }
    return out;
  };
  return build(0, 0);
}

/** torch.where(condition, a, b); scalars are broadcast. */
export function where(condition: Tensor, a: Tensor | Scalar, b: Tensor | Scalar): Tensor {
  const like = typeof a === 'object' ? a : typeof b === 'object' ? b : null;
  const asTensor = (v: Tensor | Scalar) =>
    typeof v === 'object' ? v : new Tensor(N.full([], v, like ? N.dtype(like._h) : dtypeCode('float32'), like ? N.device(like._h) : 'cpu', false), CONSTRUCT);
  const ta = asTensor(a);
  const tb = asTensor(b);
  try {
    return wrap(N.where(arg(condition), arg(ta), arg(tb)));
  } finally {
    if (ta !== a) ta.dispose();
    if (tb !== b) tb.dispose();
  }
}
