// Every op case of test/fixtures/ops.json (PyTorch's numbers for the linked libtorch's major version, from tools/make_op_fixtures.py) through the
// TypeScript API: outputs within 1e-5 relative / 1e-6 absolute for float32 (exact for ints and bools), and the
// gradients of sum_i(sum(output_i * w_i)) w.r.t. every floating input likewise. Also Tensor.toString() against
// PyTorch's repr, and dropout's statistics for p > 0.
import * as torch from '../lib';
import type { Tensor } from '../lib';
import { F } from '../lib';
import type { Encoded, OpCase } from './helpers/op-fixtures';
import { expectMatches, fixture, make } from './helpers/op-fixtures';
import { otherDevice, skippedWithoutGpu } from './helpers/devices';

type Args = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type OpFn = (x: Tensor[], a: Args) => Tensor | Tensor[];

/** Runs an in-place op on a clone (as the generator does), and checks that it returns the tensor itself. */
function inplace(a: Tensor, fn: (c: Tensor) => Tensor): Tensor {
  const c = a.clone();
  const r = fn(c);
  expect(r).toBe(c);
  return c;
}

const OPS: Record<string, OpFn> = {
  // arithmetic
  add: ([a, b], o) => (b ? a.add(b, o.alpha) : a.add(o.scalar, o.alpha)),
  sub: ([a, b], o) => (b ? a.sub(b, o.alpha) : a.sub(o.scalar, o.alpha)),
  mul: ([a, b], o) => a.mul(b ?? o.scalar),
  div: ([a, b], o) => a.div(b ?? o.scalar),
  pow: ([a, b], o) => a.pow(b ?? o.scalar),
  rsub: ([a], o) => a.rsub(o.scalar),
  rdiv: ([a], o) => a.rdiv(o.scalar),
  maximum: ([a, b]) => a.maximum(b),
  minimum: ([a, b]) => a.minimum(b),
  // matmul family
  matmul: ([a, b]) => a.matmul(b),
  mm: ([a, b]) => a.mm(b),
  bmm: ([a, b]) => a.bmm(b),
  dot: ([a, b]) => a.dot(b),
  outer: ([a, b]) => a.outer(b),
  addmm: ([c, a, b], o) => F.addmm(c, a, b, { beta: o.beta, alpha: o.alpha }),
  linear: ([x, w, b]) => F.linear(x, w, b),
  'autocast:mm': ([a, b]) => torch.autocast('cpu', () => a.mm(b)),
  'autocast:matmul': ([a, b]) => torch.autocast('cpu', () => a.matmul(b)),
  'autocast:linear': ([x, w, b]) => torch.autocast('cpu', () => F.linear(x, w, b)),
  'autocast:add': ([a, b]) => torch.autocast('cpu', () => a.add(b)),
  'autocast:mul': ([a], o) => torch.autocast('cpu', () => a.mul(o.scalar)),
  // activations
  gelu: ([a], o) => F.gelu(a, { approximate: o.approximate }),
  softmax: ([a], o) => F.softmax(a, o.dim),
  'Tensor.softmax': ([a], o) => a.softmax(o.dim),
  logSoftmax: ([a], o) => F.logSoftmax(a, o.dim),
  'Tensor.logSoftmax': ([a], o) => a.logSoftmax(o.dim),
  // nn
  layerNorm: ([x, w, b], o) => F.layerNorm(x, o.normalizedShape, w, b, o.eps),
  embedding: ([i, w], o) => F.embedding(i, w, { paddingIdx: o.paddingIdx }),
  dropout: ([x], o) => F.dropout(x, o.p, o.training),
  crossEntropy: ([x, t, w], o) =>
    F.crossEntropy(x, t, {
      weight: w,
      reduction: o.reduction,
      ignoreIndex: o.ignoreIndex,
      labelSmoothing: o.labelSmoothing,
    }),
  nllLoss: ([x, t, w], o) => F.nllLoss(x, t, { weight: w, reduction: o.reduction, ignoreIndex: o.ignoreIndex }),
  mseLoss: ([a, b], o) => F.mseLoss(a, b, { reduction: o.reduction }),
  binaryCrossEntropyWithLogits: ([a, b], o) => F.binaryCrossEntropyWithLogits(a, b, { reduction: o.reduction }),
  scaledDotProductAttention: ([q, k, v, m], o) =>
    F.scaledDotProductAttention(q, k, v, { attnMask: m, isCausal: o.isCausal }),
  attentionMatmulSoftmax: ([q, k, v, m], o) => F.attentionMatmulSoftmax(q, k, v, { attnMask: m, isCausal: o.isCausal }),
  // reductions
  sum: ([a], o) => a.sum(o.dim, o.keepdim, { dtype: o.dtype }),
  mean: ([a], o) => a.mean(o.dim, o.keepdim, { dtype: o.dtype }),
  max: ([a], o) => (o.dim === undefined ? a.max() : a.max(o.dim, o.keepdim)),
  min: ([a], o) => (o.dim === undefined ? a.min() : a.min(o.dim, o.keepdim)),
  amax: ([a], o) => a.amax(o.dim, o.keepdim),
  amin: ([a], o) => a.amin(o.dim, o.keepdim),
  argmax: ([a], o) => a.argmax(o.dim, o.keepdim),
  argmin: ([a], o) => a.argmin(o.dim, o.keepdim),
  var: ([a], o) => a.var(o.dim, { unbiased: o.unbiased, keepdim: o.keepdim }),
  std: ([a], o) => a.std(o.dim, { unbiased: o.unbiased, keepdim: o.keepdim }),
  norm: ([a], o) => a.norm(o.p, o.dim, o.keepdim),
  logsumexp: ([a], o) => a.logsumexp(o.dim, o.keepdim),
  prod: ([a], o) => a.prod(o.dim, o.keepdim),
  cumsum: ([a], o) => a.cumsum(o.dim),
  all: ([a], o) => a.all(o.dim, o.keepdim),
  any: ([a], o) => a.any(o.dim, o.keepdim),
  // comparisons and logic
  eq: ([a, b], o) => a.eq(b ?? o.scalar),
  ne: ([a, b], o) => a.ne(b ?? o.scalar),
  lt: ([a, b], o) => a.lt(b ?? o.scalar),
  le: ([a, b], o) => a.le(b ?? o.scalar),
  gt: ([a, b], o) => a.gt(b ?? o.scalar),
  ge: ([a, b], o) => a.ge(b ?? o.scalar),
  logicalAnd: ([a, b]) => a.logicalAnd(b),
  logicalOr: ([a, b]) => a.logicalOr(b),
  logicalNot: ([a]) => a.logicalNot(),
  where: ([c, a, b], o) =>
    'other' in o ? torch.where(c, a, o.other) : 'self' in o ? torch.where(c, o.self, a) : torch.where(c, a, b),
  'Tensor.where': ([a, c, b]) => a.where(c, b),
  maskedFill: ([a, m], o) => a.maskedFill(m, o.value),
  // shape
  view: ([a], o) => a.view(o.shape),
  reshape: ([a], o) => a.reshape(o.shape),
  reshapeAfterTranspose: ([a], o) => {
    const t = a.transpose(0, 1);
    expect(t.isContiguous()).toBe(false);
    return t.reshape(o.shape);
  },
  transpose: ([a], o) => a.transpose(o.dim0, o.dim1),
  t: ([a]) => a.t(),
  permute: ([a], o) => a.permute(o.dims),
  permuteContiguous: ([a], o) => {
    const p = a.permute(o.dims);
    expect(p.isContiguous()).toBe(false);
    const c = p.contiguous();
    expect(c.isContiguous()).toBe(true);
    return c;
  },
  squeeze: ([a], o) => a.squeeze(o.dim),
  unsqueeze: ([a], o) => a.unsqueeze(o.dim),
  expand: ([a], o) => a.expand(o.shape),
  flatten: ([a], o) => a.flatten(o.start, o.end),
  flip: ([a], o) => a.flip(o.dims),
  repeat: ([a], o) => a.repeat(o.sizes),
  // indexing
  narrow: ([a], o) => a.narrow(o.dim, o.start, o.length),
  select: ([a], o) => a.select(o.dim, o.index),
  slice: ([a], o) => a.slice(o.dim, o.start, o.end, o.step),
  indexSelect: ([a, i], o) => a.indexSelect(o.dim, i),
  gather: ([a, i], o) => a.gather(o.dim, i),
  index: (x, o) => x[0].index((o.pattern as (number | null)[]).map((p) => (p === null ? null : x[p]))),
  maskedSelect: ([a, m]) => a.maskedSelect(m),
  scatterAdd: ([a, i, s], o) => a.scatterAdd(o.dim, i, s),
  oneHot: ([i], o) => F.oneHot(i, o.numClasses),
  // joining and splitting
  cat: (x, o) => torch.cat(x, o.dim),
  stack: (x, o) => torch.stack(x, o.dim),
  split: ([a], o) => a.split(o.size, o.dim),
  chunk: ([a], o) => a.chunk(o.chunks, o.dim),
  unbind: ([a], o) => a.unbind(o.dim),
  // clamp, sorting, triangles
  clamp: ([a], o) => a.clamp(o.min, o.max),
  topk: ([a], o) => a.topk(o.k, o.dim, o.largest),
  sort: ([a], o) => a.sort(o.dim, o.descending),
  tril: ([a], o) => a.tril(o.diagonal),
  triu: ([a], o) => a.triu(o.diagonal),
  // in place
  add_: ([a, b], o) => inplace(a, (c) => c.add_(b ?? o.scalar, o.alpha)),
  sub_: ([a, b], o) => inplace(a, (c) => c.sub_(b ?? o.scalar)),
  mul_: ([a, b], o) => inplace(a, (c) => c.mul_(b ?? o.scalar)),
  div_: ([a, b], o) => inplace(a, (c) => c.div_(b ?? o.scalar)),
  pow_: ([a], o) => inplace(a, (c) => c.pow_(o.scalar)),
  zero_: ([a]) => inplace(a, (c) => c.zero_()),
  copy_: ([a, b]) => inplace(a, (c) => c.copy_(b)),
  fill_: ([a], o) => inplace(a, (c) => c.fill_(o.value)),
  addcmul_: ([a, t1, t2], o) => inplace(a, (c) => c.addcmul_(t1, t2, o.value)),
  addcdiv_: ([a, t1, t2], o) => inplace(a, (c) => c.addcdiv_(t1, t2, o.value)),
  clamp_: ([a], o) => inplace(a, (c) => c.clamp_(o.min, o.max)),
  maskedFill_: ([a, m], o) => inplace(a, (c) => c.maskedFill_(m, o.value)),
  relu_: ([a]) => inplace(a, (c) => c.relu_()),
  neg_: ([a]) => inplace(a, (c) => c.neg_()),
  exp_: ([a]) => inplace(a, (c) => c.exp_()),
  sqrt_: ([a]) => inplace(a, (c) => c.sqrt_()),
  detach_: ([a]) => inplace(a, (c) => c.detach_()),
  // the rest of the op tables (native/op_tables.h), so that every table op has a case
  isnan: ([a]) => a.isnan(),
  isinf: ([a]) => a.isinf(),
  clone: ([a]) => a.clone(),
  detach: ([a]) => a.detach(),
  contiguous: ([a]) => a.t().contiguous(),
  nonzero: ([a]) => a.nonzero(),
  remainder: ([a, b], o) => a.remainder(b ?? o.scalar),
  equal: ([a, b]) => torch.tensor(a.equal(b)),
  expandAs: ([a, b]) => a.expandAs(b),
  viewAs: ([a, b]) => a.viewAs(b),
};
// Unary element-wise methods without arguments.
for (const m of [
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'tanh',
  'sigmoid',
  'relu',
  'silu',
  'neg',
  'abs',
  'square',
  'reciprocal',
  'sin',
  'cos',
  'erf',
  'log1p',
  'expm1',
  'floor',
  'ceil',
  'round',
  'sign',
] as const) {
  OPS[m] = ([a]) => a[m]();
}

const fx = fixture();

/** A fixture tensor on `device`, a leaf there when it requires grad. */
function makeOn(e: Encoded, requiresGrad: boolean, device: string): Tensor {
  if (device === 'cpu') return make(e, requiresGrad);
  const t = torch.tidy(() => make(e).to(device));
  return requiresGrad ? t.requiresGrad_(true) : t;
}

function runCase(c: OpCase, device = 'cpu'): void {
  const inputs = c.inputs.map((i) => makeOn(fx.tensors[i.ref], i.requiresGrad, device));
  const result = OPS[c.op](inputs, c.args);
  const outs = Array.isArray(result) ? result : [result];
  expect(outs.length).toBe(c.outputs.length);
  outs.forEach((o, k) => {
    expect(o.device).toBe(inputs.length ? inputs[0].device : o.device);
    expectMatches(o, c.outputs[k], `output ${k}`);
  });
  if (!c.grads) return;
  let loss: Tensor | null = null;
  c.weights!.forEach((w, k) => {
    if (!w) return;
    const term = outs[k].mul(makeOn(w, false, device)).sum();
    loss = loss === null ? term : loss.add(term);
  });
  (loss as Tensor | null)!.backward();
  c.grads.forEach((g, k) => {
    if (!c.inputs[k].requiresGrad) {
      expect(inputs[k].requiresGrad).toBe(false);
      return;
    }
    const grad = inputs[k].grad;
    if (g === null) expect(grad).toBeNull();
    else {
      expect(grad).not.toBeNull();
      expectMatches(grad!, g, `grad of input ${k}`);
    }
  });
}

/** The same case without autograd: PyTorch's values, no gradient, and on the CPU bit for bit what the autograd path gives. */
function runCaseWithoutAutograd(c: OpCase, device = 'cpu'): void {
  torch.tidy(() => {
    const withGrad = OPS[c.op](
      c.inputs.map((i) => makeOn(fx.tensors[i.ref], i.requiresGrad, device)),
      c.args,
    );
    const plain = torch.noGrad(() =>
      OPS[c.op](
        c.inputs.map((i) => makeOn(fx.tensors[i.ref], false, device)),
        c.args,
      ),
    );
    const [a, b] = [withGrad, plain].map((r) => (Array.isArray(r) ? r : [r]));
    b.forEach((o, k) => {
      expectMatches(o, c.outputs[k], `output ${k}`);
      expect(o.requiresGrad).toBe(false);
      // Bit for bit on the CPU, where the direct path applies; CUDA kernels with atomics (scatterAdd) may sum
      // in another order from one call to the next.
      if (device === 'cpu' && o.dtype !== 'bool' && o.numel() > 0) expect(o.equal(a[k].detach())).toBe(true);
    });
  });
}

describe('op cases from PyTorch', () => {
  test('the fixture covers the ops, and every op has a runner', () => {
    expect(fx.cases.length).toBeGreaterThan(250);
    const missing = [...new Set(fx.cases.map((c) => c.op))].filter((op) => !(op in OPS));
    expect(missing).toEqual([]);
    expect(fx.cases.filter((c) => c.grads).length).toBeGreaterThan(150);
  });

  test.each(fx.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const before = torch.memory().numTensors;
    torch.tidy(() => runCase(c));
    // Everything the case made (inputs, outputs, grads, the graph's saved tensors) is freed by tidy.
    expect(torch.memory().numTensors).toBe(before);
  });

  // Without autograd, small CPU ops skip the dispatcher layers (native/direct_cpu.cc): the same values as
  // PyTorch, and bit for bit what the autograd path gives.
  test.each(fx.cases.map((c) => [c.name, c] as const))('%s, without autograd', (_name, c) => runCaseWithoutAutograd(c));
});

// The same cases on a GPU (test/helpers/devices.ts). CPU autocast cases stay on the CPU.
if (otherDevice === null) {
  describe('op cases from PyTorch, on cuda', () => skippedWithoutGpu('the op cases'));
} else {
  describe(`op cases from PyTorch, on ${otherDevice}`, () => {
    const cases = fx.cases.filter((c) => !c.op.startsWith('autocast:'));
    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      const before = torch.memory().numTensors;
      torch.tidy(() => runCase(c, otherDevice));
      expect(torch.memory().numTensors).toBe(before);
    });
    test.each(cases.map((c) => [c.name, c] as const))('%s, without autograd', (_name, c) =>
      runCaseWithoutAutograd(c, otherDevice),
    );
  });
}

describe('embedding', () => {
  test('paddingIdx: the padding row gets no gradient, the others what PyTorch gives', () => {
    const c = fx.cases.find((k) => k.name === 'embedding/paddingIdx')!;
    torch.tidy(() => {
      const [idx, weight] = c.inputs.map((i) => make(fx.tensors[i.ref], i.requiresGrad));
      expect(idx.eq(0).any().item()).toBe(true); // the indices do use the padding row
      const out = F.embedding(idx, weight, { paddingIdx: 0 });
      out.mul(make(c.weights![0]!)).sum().backward();
      const g = weight.grad!;
      expect(g.select(0, 0).abs().sum().item()).toBe(0);
      expect(g.abs().sum().item()).toBeGreaterThan(0);
      expectMatches(g, c.grads![1]!, 'embedding weight grad');
    });
  });
});

describe('attention', () => {
  test('the fused entry point and the explicit matmul-softmax path agree on every fixture input', () => {
    const cases = fx.cases.filter((c) => c.op === 'scaledDotProductAttention');
    expect(cases.length).toBeGreaterThanOrEqual(6);
    torch.tidy(() => {
      for (const c of cases) {
        const [q, k, v, m] = c.inputs.map((i) => make(fx.tensors[i.ref]));
        const a = F.scaledDotProductAttention(q, k, v, { attnMask: m, isCausal: c.args.isCausal });
        const b = F.attentionMatmulSoftmax(q, k, v, { attnMask: m, isCausal: c.args.isCausal });
        expect(a.allclose(b, 1e-6, 1e-7)).toBe(true);
      }
    });
  });

  test('a bool mask keeps the positions that are true: masked keys do not change the output', () => {
    torch.tidy(() => {
      torch.manualSeed(3);
      const q = torch.randn([1, 2, 4]);
      const k = torch.randn([1, 3, 4]);
      const v = torch.randn([1, 3, 4]);
      const mask = torch.tensor([[true, true, false]]);
      const masked = F.scaledDotProductAttention(q, k, v, { attnMask: mask });
      const k2 = k.clone();
      const v2 = v.clone();
      k2.select(1, 2).fill_(100);
      v2.select(1, 2).fill_(-100);
      const masked2 = F.scaledDotProductAttention(q, k2, v2, { attnMask: mask });
      expect(masked.allclose(masked2)).toBe(true);
      const sliced = F.scaledDotProductAttention(q, k.narrow(1, 0, 2), v.narrow(1, 0, 2));
      expect(masked.allclose(sliced, 1e-5, 1e-6)).toBe(true);
    });
  });
});

describe('dropout with p > 0', () => {
  test('zeroes about p of the elements and scales the rest by 1/(1-p); the gradient has the same pattern', () => {
    torch.tidy(() => {
      torch.manualSeed(11);
      const p = 0.3;
      const x = torch.ones([200, 50], { requiresGrad: true });
      const y = F.dropout(x, p, true);
      const v = y.dataSync() as Float32Array;
      const scale = Math.fround(1 / (1 - p));
      let zeros = 0;
      for (const e of v) {
        if (e === 0) zeros++;
        else expect(Math.abs(e - scale)).toBeLessThan(1e-6);
      }
      const frac = zeros / v.length;
      expect(frac).toBeGreaterThan(p - 0.03);
      expect(frac).toBeLessThan(p + 0.03);
      expect(Math.abs((y.mean().item() as number) - 1)).toBeLessThan(0.05);
      y.sum().backward();
      expect(x.grad!.equal(y.detach())).toBe(true);
    });
  });

  test('training=false is the identity, p=1 zeroes everything, and p outside [0, 1] is an error', () => {
    torch.tidy(() => {
      const x = torch.randn([4, 5]);
      expect(F.dropout(x, 0.9, false).equal(x)).toBe(true);
      expect(F.dropout(x, 1, true).abs().sum().item()).toBe(0);
      expect(() => F.dropout(x, 1.5)).toThrow(/dropout probability has to be between 0 and 1/);
    });
  });

  test('the same seed gives the same mask', () => {
    torch.tidy(() => {
      const x = torch.ones([64]);
      torch.manualSeed(5);
      const a = F.dropout(x, 0.5);
      torch.manualSeed(5);
      const b = F.dropout(x, 0.5);
      expect(a.equal(b)).toBe(true);
    });
  });
});

describe('toString() matches PyTorch repr', () => {
  test.each(fx.reprs.map((r) => [r.name, r] as const))('%s', (_name, r) => {
    torch.tidy(() => {
      const leaf = make(r, r.requiresGrad ?? false);
      const then: Record<string, (x: Tensor) => Tensor> = {
        mulSelf: (x) => x.mul(x),
        sum: (x) => x.sum(),
        view: (x) => x.view(4),
        logSoftmax: (x) => x.logSoftmax(1),
      };
      const t = r.then ? then[r.then](leaf) : leaf;
      expect(t.toString()).toBe(r.repr);
      expect(String(t)).toBe(r.repr);
    });
  });
});

describe('numbers in arithmetic', () => {
  // The direct CPU path makes the wrapped number in the tensor's dtype and keeps the last one per thread; the
  // same number with another dtype or kind (int, float, bool) must not reuse it. Values are exact in binary.
  test("a number reused across calls, dtypes and kinds gives PyTorch's dtypes and exact values", () => {
    torch.tidy(() => {
      const f32 = torch.tensor([1.5, -2]);
      const f64 = torch.tensor([1.5, -2], { dtype: 'float64' });
      const i64 = torch.tensor([3, -4], { dtype: 'int64' });
      const steps: [Tensor, string, number[]][] = [
        [f32.mul(3), 'float32', [4.5, -6]],
        [f64.mul(3), 'float64', [4.5, -6]],
        [i64.mul(3), 'int64', [9, -12]],
        [f32.mul(3.5), 'float32', [5.25, -7]],
        [i64.mul(3.5), 'float32', [10.5, -14]],
        [f32.add(true), 'float32', [2.5, -1]],
        [f32.add(1), 'float32', [2.5, -1]],
        [f32.sub(0.25), 'float32', [1.25, -2.25]],
        [f32.div(2), 'float32', [0.75, -1]],
        [i64.div(2), 'float32', [1.5, -2]],
        [f32.mul(3), 'float32', [4.5, -6]],
      ];
      for (const [t, dtype, values] of steps)
        expect({ dtype: t.dtype, values: t.toArray() }).toEqual({ dtype, values });
    });
  });
});
