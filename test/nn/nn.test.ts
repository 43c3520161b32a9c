// nn.Module and the layers against PyTorch's own numbers and strings (test/fixtures/nn.json or nn.torch2.json, written by
// tools/make_nn_fixtures.py with Debian's PyTorch).
import type { Tensor, DType } from '../../lib';
import { tensor, empty, ones, zeros, arange, randn, manualSeed, nn, F, memory } from '../../lib';
import { readFixture } from '../helpers/fixture-file';

// ------------------------------------------------------------------------------------------------ fixture
interface Enc {
  shape: number[];
  dtype: string;
  values: number[];
}
interface LoadFx {
  strict_error: string;
  removed: string[];
  extra: string[];
  missing_keys: string[];
  unexpected_keys: string[];
  size_mismatch_key: string;
  size_mismatch_shape: number[];
  size_mismatch_error: string;
}
interface ModelFx {
  repr: string;
  state_dict_keys: string[];
  state_dict_shapes: Record<string, number[]>;
  state_dict_dtypes: Record<string, string>;
  named_parameters: string[];
  named_parameters_no_recurse: string[];
  named_buffers: string[];
  named_children: string[];
  named_modules: string[];
  module_types: string[];
  num_parameters: number;
  apply_order: string[];
  children_types: string[];
  load: LoadFx;
}
type InitFx = Record<string, unknown> & { seed: number };
const FX = readFixture('nn');
// Module reprs are ours (no libtorch involved): always as PyTorch 2.x prints them.
const REPRS = readFixture('nn', 2).models as {
  tiny: ModelFx;
  shared: ModelFx;
  sequential_repr: string;
  empty_module_list_repr: string;
};
const MODELS = FX.models as { tiny: ModelFx; shared: ModelFx; sequential_repr: string; empty_module_list_repr: string };
const INITS = FX.init as InitFx[];
const FWD = FX.forward;

const fromEnc = (e: Enc): Tensor => tensor(e.values, { dtype: e.dtype as DType }).reshape(e.shape);
const values = (t: Tensor): number[] => Array.from(t.double().dataSync() as Float64Array);

/** Largest |a - b| after checking shape and dtype. */
function diff(t: Tensor, e: Enc): number {
  expect({ shape: t.shape, dtype: t.dtype }).toEqual({ shape: e.shape, dtype: e.dtype });
  const got = values(t);
  return got.reduce((m, v, i) => Math.max(m, Math.abs(v - e.values[i])), 0);
}
/** Bit-identical values (the same draws from libtorch's generator, or the same kernel). */
function expectExact(t: Tensor, e: Enc): void {
  expect({ shape: t.shape, dtype: t.dtype }).toEqual({ shape: e.shape, dtype: e.dtype });
  expect(values(t)).toEqual(e.values);
}
function expectClose(t: Tensor, e: Enc, tol = 1e-6): void {
  expect(diff(t, e)).toBeLessThanOrEqual(tol);
}

// ------------------------------------------------------------------------------------------------ the models of the fixture
class TinyNet extends nn.Module {
  embed!: nn.Embedding;
  body!: nn.Sequential;
  heads!: nn.ModuleList<nn.Linear>;
  extra!: nn.ModuleDict;
  scale!: Tensor;
  constructor() {
    super();
    this.registerModule('embed', new nn.Embedding(10, 8, { paddingIdx: 0 }));
    this.registerModule(
      'body',
      new nn.Sequential(
        new nn.Linear(8, 8),
        new nn.ReLU(),
        new nn.Dropout(0.1),
        new nn.LayerNorm(8, 1e-12),
        new nn.GELU(),
      ),
    );
    this.registerModule('heads', new nn.ModuleList([new nn.Linear(8, 4), new nn.Linear(8, 2, { bias: false })]));
    this.registerModule(
      'extra',
      new nn.ModuleDict({ norm: new nn.LayerNorm(8), act: new nn.Tanh(), drop: new nn.Dropout(0.25) }),
    );
    this.registerBuffer('position_ids', arange(6).expand(1, -1));
    this.registerBuffer('cache', zeros([2]), false);
    this.registerParameter('scale', ones([1]));
  }
  forward(ids: Tensor): Tensor[] {
    const h = (this.body.forward(this.embed.forward(ids)) as Tensor).mul(this.scale);
    return [...this.heads].map((l) => l.forward(h));
  }
}

class Shared extends nn.Module {
  a!: nn.Linear;
  b!: nn.Linear;
  c!: nn.Linear;
  constructor() {
    super();
    const a = this.registerModule('a', new nn.Linear(3, 3));
    this.registerModule('b', a);
    const c = this.registerModule('c', new nn.Linear(3, 3, { bias: false }));
    c.weight.dispose();
    c.registerParameter('weight', a.weight);
    this.registerModule('missing', null);
    this.registerModule('norm', new nn.LayerNorm([2, 3], 1e-6, { elementwiseAffine: false }));
    this.registerModule('act', new nn.GELU('tanh'));
    this.registerBuffer('mask', ones([3], { dtype: 'bool' }));
  }
  forward(x: Tensor): Tensor {
    return this.c.forward(this.a.forward(x));
  }
}

const build = { tiny: () => new TinyNet(), shared: () => new Shared() };

// ================================================================================================ printing
describe('toString equals print(model)', () => {
  it.each(['tiny', 'shared'] as const)('%s', (name) => {
    const m = build[name]();
    expect(m.toString()).toBe(REPRS[name].repr);
    m.dispose();
  });
  it('nested Sequential, empty ModuleList', () => {
    const seq = new nn.Sequential(
      new nn.Linear(2, 2),
      new nn.Sequential(new nn.Identity(), new nn.SiLU(), new nn.Sigmoid()),
    );
    expect(String(seq)).toBe(REPRS.sequential_repr);
    expect(String(new nn.ModuleList())).toBe(REPRS.empty_module_list_repr);
  });
  it("prints floats with Python's repr", () => {
    for (const [v, repr] of FX.float_repr as [number, string][]) {
      expect(new nn.LayerNorm(1, v).toString()).toBe(
        `LayerNorm((1,), eps=${repr}, elementwise_affine=True, bias=True)`,
      );
    }
  });
  it('indents a multi-line extraRepr, and puts it before the children', () => {
    class Multi extends nn.Module {
      constructor(withChild: boolean) {
        super();
        if (withChild) this.registerModule('lin', new nn.Linear(1, 1));
      }
      extraRepr(): string {
        return 'a=1\nb=2';
      }
      forward(): void {}
    }
    expect(new Multi(false).toString()).toBe('Multi(\n  a=1\n  b=2\n)');
    expect(new Multi(true).toString()).toBe(
      'Multi(\n  a=1\n  b=2\n  (lin): Linear(in_features=1, out_features=1, bias=True)\n)',
    );
  });
});

// ================================================================================================ traversal
describe('traversal names and order match PyTorch', () => {
  it.each(['tiny', 'shared'] as const)('%s', (name) => {
    const m = build[name]();
    const fx = MODELS[name];
    expect([...m.namedChildren()].map(([n]) => n)).toEqual(fx.named_children);
    expect([...m.children()].map((c) => c.constructor.name)).toEqual(fx.children_types);
    expect([...m.namedModules()].map(([n]) => n)).toEqual(fx.named_modules);
    expect([...m.modules()].map((x) => x.constructor.name)).toEqual(fx.module_types);
    expect([...m.namedParameters()].map(([n]) => n)).toEqual(fx.named_parameters);
    expect([...m.namedParameters('', false)].map(([n]) => n)).toEqual(fx.named_parameters_no_recurse);
    expect(m.parameters(false).length).toBe(fx.named_parameters_no_recurse.length);
    expect([...m.namedBuffers()].map(([n]) => n)).toEqual(fx.named_buffers);
    expect(m.buffers().length).toBe(fx.named_buffers.length);
    expect(m.parameters().reduce((s, p) => s + p.numel(), 0)).toBe(fx.num_parameters);
    m.dispose();
  });

  it('dedupes shared parameters but keeps them tied', () => {
    const m = new Shared();
    expect(m.parameters()).toHaveLength(2);
    expect(m.c.weight).toBe(m.a.weight);
    expect(m.b).toBe(m.a);
    expect(m.getChild('missing')).toBeNull();
    m.dispose();
  });

  it('prefixes names', () => {
    const m = new nn.Sequential(new nn.Linear(2, 2));
    expect([...m.namedParameters('model')].map(([n]) => n)).toEqual(['model.0.weight', 'model.0.bias']);
    expect([...m.namedModules('model')].map(([n]) => n)).toEqual(['model', 'model.0']);
  });

  it('apply visits children first, then the module itself', () => {
    for (const name of ['tiny', 'shared'] as const) {
      const m = build[name]();
      const names = new Map([...m.namedModules()].map(([n, x]) => [x, n]));
      const order: string[] = [];
      expect(m.apply((x) => order.push(names.get(x)!))).toBe(m);
      expect(order).toEqual(MODELS[name].apply_order);
    }
  });
});

// ================================================================================================ registration
describe('registration', () => {
  it('registers parameters, buffers and modules as properties', () => {
    class M extends nn.Module {
      w!: Tensor;
      frozen!: Tensor;
      buf!: Tensor;
      child!: nn.Linear;
      constructor() {
        super();
        this.registerParameter('w', zeros([2, 2]));
        this.registerParameter('frozen', zeros([2]), false);
        this.registerParameter('none', null);
        this.registerBuffer('buf', arange(3));
        this.registerModule('child', new nn.Linear(2, 1));
      }
      forward(): void {}
    }
    const m = new M();
    expect(m.w.requiresGrad).toBe(true);
    expect(m.frozen.requiresGrad).toBe(false);
    expect(m.buf.requiresGrad).toBe(false);
    expect(m.child).toBeInstanceOf(nn.Linear);
    expect([...m.namedParameters()].map(([n]) => n)).toEqual(['w', 'frozen', 'child.weight', 'child.bias']);
    expect(Object.keys(m.stateDict())).toEqual(['w', 'frozen', 'buf', 'child.weight', 'child.bias']);
    expect(() => m.registerModule('a.b', new nn.ReLU())).toThrow(/must be non-empty and contain no '\.'/);
    expect(() => m.registerModule('', new nn.ReLU())).toThrow();
    m.dispose();
  });

  it('non-persistent buffers are buffers but not state', () => {
    const m = new TinyNet();
    expect(MODELS.tiny.named_buffers).toContain('cache');
    expect(MODELS.tiny.state_dict_keys).not.toContain('cache');
    expect(Object.keys(m.stateDict())).not.toContain('cache');
    m.dispose();
  });

  it('setChild replaces a child by name and forward uses the new one', () => {
    const seq = new nn.Sequential(new nn.Linear(3, 3), new nn.ReLU());
    const x = tensor([[-1, 2, -3]]);
    seq.setChild('0', new nn.Identity());
    expect(seq.at(0)).toBeInstanceOf(nn.Identity);
    expect((seq.forward(x) as Tensor).toArray()).toEqual([[0, 2, 0]]);
    seq.setChild('1', new nn.Tanh());
    expect(values(seq.forward(x) as Tensor)).toEqual(values(x.tanh()));
    expect(() => seq.setChild('7', new nn.ReLU())).toThrow(/has no child module '7'/);
    // ... also deep inside a model, through getSubmodule
    const m = new TinyNet();
    const lin = new nn.Linear(8, 4);
    m.getSubmodule('heads').setChild('0', lin);
    expect(m.heads.at(0)).toBe(lin);
    const [out] = m.forward(tensor([[1, 2]], { dtype: 'int64' }));
    expect(out.shape).toEqual([1, 2, 4]);
    expect([...m.namedParameters()].find(([n]) => n === 'heads.0.weight')![1]).toBe(lin.weight);
  });

  it('getSubmodule walks dotted paths and reports what is missing', () => {
    const m = new TinyNet();
    expect(m.getSubmodule('')).toBe(m);
    expect(m.getSubmodule('body.3')).toBeInstanceOf(nn.LayerNorm);
    expect(m.getSubmodule('extra.act')).toBeInstanceOf(nn.Tanh);
    expect(() => m.getSubmodule('body.7')).toThrow("Sequential has no submodule '7' (in path 'body.7')");
    expect(() => m.getSubmodule('nothing.here')).toThrow("TinyNet has no submodule 'nothing'");
    expect(() => m.getSubmodule('heads.0.weight')).toThrow(/Linear has no submodule 'weight'/);
    m.dispose();
  });
});

// ================================================================================================ modes, dtype, grad
describe('train/eval, to, requiresGrad_', () => {
  it('train() and eval() reach every submodule', () => {
    const m = new TinyNet();
    expect([...m.modules()].every((x) => x.training)).toBe(true);
    expect(m.eval()).toBe(m);
    expect([...m.modules()].every((x) => !x.training)).toBe(true);
    m.train();
    expect([...m.modules()].every((x) => x.training)).toBe(true);
    m.train(false);
    expect([...m.modules()].some((x) => x.training)).toBe(false);
    m.dispose();
  });

  it("to('float64') casts floating parameters and buffers only, and keeps ties", () => {
    const m = new TinyNet();
    const before = values(m.body.at(0).parameters()[0]);
    m.to('float64');
    for (const [n, t] of Object.entries(m.stateDict())) {
      expect({ n, dtype: t.dtype }).toEqual({ n, dtype: n === 'position_ids' ? 'int64' : 'float64' });
    }
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(values(m.body.at(0).parameters()[0])).toEqual(before);
    const out = m.forward(tensor([[1, 2, 0]], { dtype: 'int64' }));
    expect(out[0].dtype).toBe('float64');
    m.to('float32');
    expect(m.scale.dtype).toBe('float32');

    const s = new Shared();
    s.to('float64');
    expect(s.c.weight).toBe(s.a.weight);
    expect(s.a.weight.dtype).toBe('float64');
    expect(s.buffers()[0].dtype).toBe('bool');
    expect(s.parameters()).toHaveLength(2);
  });

  it('requiresGrad_ switches every parameter', () => {
    const m = new TinyNet();
    m.requiresGrad_(false);
    expect(m.parameters().some((p) => p.requiresGrad)).toBe(false);
    m.getSubmodule('heads.1').requiresGrad_();
    expect([...m.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n)).toEqual(['heads.1.weight']);
    m.dispose();
  });

  it('zeroGrad clears the gradients', () => {
    const lin = new nn.Linear(3, 2);
    lin
      .forward(ones([1, 3]))
      .sum()
      .backward();
    expect(lin.weight.grad).not.toBeNull();
    lin.zeroGrad();
    expect(lin.weight.grad).toBeNull();
    expect(lin.bias!.grad).toBeNull();
  });
});

// ================================================================================================ state dict
describe('stateDict / loadStateDict', () => {
  it.each(['tiny', 'shared'] as const)('%s: keys, shapes and dtypes equal PyTorch', (name) => {
    const m = build[name]();
    const sd = m.stateDict();
    const fx = MODELS[name];
    expect(Object.keys(sd)).toEqual(fx.state_dict_keys);
    expect(Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, t.shape]))).toEqual(fx.state_dict_shapes);
    expect(Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, t.dtype]))).toEqual(fx.state_dict_dtypes);
    m.dispose();
  });

  it('loadStateDict copies the values (into the same tensors)', () => {
    manualSeed(1);
    const a = new TinyNet();
    manualSeed(2);
    const b = new TinyNet();
    const weight = b.heads.at(0).weight;
    expect(values(weight)).not.toEqual(values(a.heads.at(0).weight));
    const res = b.loadStateDict(a.stateDict());
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    for (const [k, t] of Object.entries(b.stateDict()))
      expect({ k, v: values(t) }).toEqual({ k, v: values(a.stateDict()[k]) });
    expect(b.heads.at(0).weight).toBe(weight);
    // from a Map, and with a cast from float64
    const c = new TinyNet();
    const sd64 = new Map(Object.entries(a.stateDict()).map(([k, t]) => [k, t.dtype === 'float32' ? t.double() : t]));
    c.loadStateDict(sd64);
    expect(values(c.embed.weight)).toEqual(values(a.embed.weight));
    expect(c.embed.weight.dtype).toBe('float32');
  });

  it.each(['tiny', 'shared'] as const)('%s: missing and unexpected keys as PyTorch reports them', (name) => {
    const fx = MODELS[name].load;
    const src = build[name]();
    const bad: Record<string, Tensor> = { ...src.stateDict() };
    for (const k of fx.removed) delete bad[k];
    for (const k of fx.extra) bad[k] = zeros([1]);
    const strictModel = build[name]();
    const before = values(strictModel.parameters()[0]);
    expect(() => strictModel.loadStateDict(bad)).toThrow(fx.strict_error);
    let message = '';
    try {
      strictModel.loadStateDict(bad);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(fx.strict_error);
    expect(values(strictModel.parameters()[0])).toEqual(before); // nothing copied when it throws
    const res = build[name]().loadStateDict(bad, { strict: false });
    expect(res.missingKeys).toEqual(fx.missing_keys);
    expect(res.unexpectedKeys).toEqual(fx.unexpected_keys);
  });

  it.each(['tiny', 'shared'] as const)('%s: size mismatch is an error even when not strict', (name) => {
    const fx = MODELS[name].load;
    const m = build[name]();
    const sd: Record<string, Tensor> = { ...m.stateDict(), [fx.size_mismatch_key]: zeros(fx.size_mismatch_shape) };
    expect(() => build[name]().loadStateDict(sd, { strict: false })).toThrow(fx.size_mismatch_error);
    expect(() => build[name]().loadStateDict(sd)).toThrow(fx.size_mismatch_error);
  });

  it('a loaded model computes the same outputs', () => {
    manualSeed(3);
    const a = new TinyNet().eval();
    const b = new TinyNet().eval();
    b.loadStateDict(a.stateDict());
    const ids = tensor([[1, 5, 0, 9]], { dtype: 'int64' });
    const [ya, za] = a.forward(ids);
    const [yb, zb] = b.forward(ids);
    expect(values(yb)).toEqual(values(ya));
    expect(values(zb)).toEqual(values(za));
  });
});

// ================================================================================================ init parity
describe('init: the same numbers as PyTorch after manual_seed', () => {
  describe.each(INITS.map((c) => [c.seed, c] as const))('seed %i', (seed, fx) => {
    const f = fx as Record<string, Record<string, Enc> & Enc>;
    it('nn.Linear', () => {
      manualSeed(seed);
      const lin = new nn.Linear(5, 3);
      expectExact(lin.weight, f.linear.weight);
      expectExact(lin.bias!, f.linear.bias);
      manualSeed(seed);
      const lin64 = new nn.Linear(4, 2, { dtype: 'float64' });
      expectExact(lin64.weight, f.linear_float64.weight);
      expectExact(lin64.bias!, f.linear_float64.bias);
      manualSeed(seed);
      const nb = new nn.Linear(3, 2, { bias: false });
      expectExact(nb.weight, f.linear_no_bias.weight);
      expect(nb.bias).toBeNull();
    });
    it('nn.Embedding with padding_idx', () => {
      manualSeed(seed);
      expectExact(new nn.Embedding(6, 4, { paddingIdx: 1 }).weight, f.embedding.weight);
      manualSeed(seed);
      const e = new nn.Embedding(5, 3, { paddingIdx: -1 });
      expect(e.paddingIdx).toBe((fx.embedding_negative_padding as { padding_idx: number }).padding_idx);
      expectExact(e.weight, f.embedding_negative_padding.weight);
    });
    it('several modules in a row consume the stream in the same order', () => {
      manualSeed(seed);
      const seq = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2), new nn.Embedding(3, 2));
      const sd = seq.stateDict();
      expect(Object.keys(sd)).toEqual(Object.keys(f.sequential));
      for (const [k, e] of Object.entries(f.sequential)) expectExact(sd[k], e as Enc);
    });
    const cases: [string, number[], DType, (t: Tensor) => unknown][] = [
      ['kaiming_uniform', [4, 6], 'float32', (t) => nn.init.kaimingUniform_(t)],
      ['kaiming_uniform_a_sqrt5', [3, 7], 'float32', (t) => nn.init.kaimingUniform_(t, { a: Math.sqrt(5) })],
      [
        'kaiming_uniform_fan_out_relu',
        [2, 3, 4],
        'float32',
        (t) => nn.init.kaimingUniform_(t, { mode: 'fan_out', nonlinearity: 'relu' }),
      ],
      ['kaiming_normal', [4, 6], 'float32', (t) => nn.init.kaimingNormal_(t)],
      ['xavier_uniform', [3, 5], 'float32', (t) => nn.init.xavierUniform_(t)],
      ['xavier_uniform_gain_tanh', [5, 3], 'float32', (t) => nn.init.xavierUniform_(t, nn.init.calculateGain('tanh'))],
      ['xavier_normal', [3, 5], 'float32', (t) => nn.init.xavierNormal_(t, 0.7)],
      ['normal', [7], 'float32', (t) => nn.init.normal_(t)],
      ['normal_mean_std', [2, 4], 'float32', (t) => nn.init.normal_(t, 0.5, 2.0)],
      ['normal_float64', [6], 'float64', (t) => nn.init.normal_(t, 0, 0.02)],
      ['uniform', [5], 'float32', (t) => nn.init.uniform_(t)],
      ['uniform_ab', [2, 3], 'float32', (t) => nn.init.uniform_(t, -0.3, 0.7)],
      ['uniform_float64', [4], 'float64', (t) => nn.init.uniform_(t, -1, 1)],
    ];
    it.each(cases)('nn.init: %s', (name, shape, dtype, fn) => {
      manualSeed(seed);
      const t = empty(shape, { dtype });
      fn(t);
      expectExact(t, f[name]);
    });
    // PyTorch 1.13 drew by the inverse CDF (erfinv computed here: to 1e-6), 2.x by rejection (exact).
    const method = String(FX.torch_version).startsWith('1.') ? 'inverse-cdf' : 'rejection';
    it.each([
      ['trunc_normal', [40], 'float32', (t: Tensor) => nn.init.truncNormal_(t, 0, 1, -2, 2, { method })],
      ['trunc_normal_narrow', [30], 'float32', (t: Tensor) => nn.init.truncNormal_(t, 0.1, 1.0, -0.5, 0.5, { method })],
      [
        'trunc_normal_float64',
        [10],
        'float64',
        (t: Tensor) => nn.init.truncNormal_(t, 0, 0.02, -0.04, 0.04, { method }),
      ],
      ['trunc_normal_tail', [25], 'float32', (t: Tensor) => nn.init.truncNormal_(t, 0, 1, 1.5, 3, { method })],
    ] as [string, number[], DType, (t: Tensor) => unknown][])(`nn.init: %s (${method})`, (name, shape, dtype, fn) => {
      manualSeed(seed);
      const t = empty(shape, { dtype });
      fn(t);
      expectClose(t, f[name], dtype === 'float64' ? 1e-12 : 1e-6);
    });
    it('calculateGain', () => {
      const g = fx.gains as Record<string, number>;
      expect(nn.init.calculateGain('linear')).toBe(g.linear);
      expect(nn.init.calculateGain('sigmoid')).toBe(g.sigmoid);
      expect(nn.init.calculateGain('tanh')).toBe(g.tanh);
      expect(nn.init.calculateGain('relu')).toBe(g.relu);
      expect(nn.init.calculateGain('leaky_relu')).toBe(g.leaky_relu);
      expect(nn.init.calculateGain('leaky_relu', 0.2)).toBe(g['leaky_relu_0.2']);
    });
  });
});

// ================================================================================================ forward values
describe('layer forward values equal PyTorch (and F)', () => {
  const x = () => fromEnc(FWD.x);
  const ids = () => tensor(FWD.ids.values.map((v: number) => BigInt(v))).reshape(FWD.ids.shape);

  it('the seeded input and module are reproduced', () => {
    manualSeed(7);
    expectExact(randn([2, 3, 5]), FWD.x);
    const lin = new nn.Linear(5, 4);
    expectExact(lin.weight, FWD.linear.weight);
    expectExact(lin.bias!, FWD.linear.bias);
    expectExact(new nn.Embedding(6, 4, { paddingIdx: 1 }).weight, FWD.embedding.weight);
  });

  it('Linear', () => {
    const lin = new nn.Linear(5, 4);
    lin.loadStateDict({ weight: fromEnc(FWD.linear.weight), bias: fromEnc(FWD.linear.bias) });
    const y = lin.forward(x());
    expectClose(y, FWD.linear.out);
    expect(values(F.linear(x(), lin.weight, lin.bias))).toEqual(values(y));
  });

  it('Embedding (padding row: zeros and no gradient)', () => {
    const emb = new nn.Embedding(6, 4, { paddingIdx: 1 });
    emb.loadStateDict({ weight: fromEnc(FWD.embedding.weight) });
    const y = emb.forward(ids());
    expectExact(y, FWD.embedding.out);
    expect(values(F.embedding(ids(), emb.weight, { paddingIdx: 1 }))).toEqual(values(y));
    y.pow(2).sum().backward();
    expectClose(emb.weight.grad!, FWD.embedding.grad);
  });

  it('LayerNorm (eps 1e-12, affine) and over two dims', () => {
    const ln = new nn.LayerNorm(5, 1e-12);
    ln.loadStateDict({ weight: fromEnc(FWD.layer_norm.weight), bias: fromEnc(FWD.layer_norm.bias) });
    const y = ln.forward(x());
    expectClose(y, FWD.layer_norm.out);
    expect(values(F.layerNorm(x(), [5], ln.weight, ln.bias, 1e-12))).toEqual(values(y));
    expectClose(new nn.LayerNorm([3, 5]).forward(x()), FWD.layer_norm_2d.out);
  });

  it('activations', () => {
    expectClose(new nn.GELU().forward(x()), FWD.gelu);
    expectClose(new nn.GELU('tanh').forward(x()), FWD.gelu_tanh);
    expectExact(new nn.ReLU().forward(x()), FWD.relu);
    expectClose(new nn.Tanh().forward(x()), FWD.tanh);
    expectClose(new nn.Sigmoid().forward(x()), FWD.sigmoid);
    expectClose(new nn.SiLU().forward(x()), FWD.silu);
  });

  it('Dropout: the same mask as PyTorch in train mode, identity in eval mode', () => {
    const d = new nn.Dropout(FWD.dropout_train.p);
    manualSeed(FWD.dropout_train.seed);
    const y = d.forward(x());
    expectClose(y, FWD.dropout_train.out);
    manualSeed(FWD.dropout_train.seed);
    expect(values(F.dropout(x(), FWD.dropout_train.p, true))).toEqual(values(y));
    d.eval();
    const input = x();
    expect(FWD.dropout_eval_equal).toBe(true);
    expect(d.forward(input)).toBe(input);
    expect(() => new nn.Dropout(1.5)).toThrow(/between 0 and 1/);
  });
});

// ================================================================================================ containers
describe('Sequential, ModuleList, ModuleDict', () => {
  it('Sequential runs its modules in order, including one instance twice', () => {
    const lin = new nn.Linear(2, 2);
    const seq = new nn.Sequential(lin, new nn.Tanh(), lin);
    const x = tensor([[0.5, -1]]);
    const want = values(lin.forward(lin.forward(x).tanh()));
    expect(values(seq.forward(x) as Tensor)).toEqual(want);
    expect(seq.length).toBe(3);
    expect(seq.at(-1)).toBe(lin);
    expect(seq.at(1)).toBeInstanceOf(nn.Tanh);
    expect([...seq.namedChildren()].map(([n]) => n)).toEqual(['0', '1']); // children are deduped, as in PyTorch
    expect(seq.parameters()).toHaveLength(2);
    expect(Object.keys(seq.stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
  });

  it('ModuleList appends, indexes and iterates', () => {
    const a = new nn.Linear(2, 2);
    const b = new nn.ReLU();
    const list = new nn.ModuleList<nn.Module>([a]);
    expect(list.append(b)).toBe(list);
    list.append(a);
    expect(list.length).toBe(3);
    expect(list.at(0)).toBe(a);
    expect(list.at(-2)).toBe(b);
    expect([...list]).toEqual([a, b, a]);
    expect(() => list.forward()).toThrow(/no forward/);
    expect(list.toString()).toBe(
      'ModuleList(\n  (0): Linear(in_features=2, out_features=2, bias=True)\n  (1): ReLU()\n  (2): Linear(in_features=2, out_features=2, bias=True)\n)',
    );
  });

  it('ModuleDict keeps insertion order and replaces in place', () => {
    const d = new nn.ModuleDict<nn.Module>({ b: new nn.ReLU(), a: new nn.Tanh() });
    d.set('c', new nn.Linear(1, 1));
    expect(d.keys()).toEqual(['b', 'a', 'c']);
    d.set('b', new nn.GELU());
    expect(d.keys()).toEqual(['b', 'a', 'c']);
    expect(d.get('b')).toBeInstanceOf(nn.GELU);
    expect(d.has('a')).toBe(true);
    expect(d.delete('a')).toBe(true);
    expect(d.has('a')).toBe(false);
    expect(d.get('a')).toBeUndefined();
    expect(d.size).toBe(2);
    expect(d.entries().map(([k, m]) => [k, m.constructor.name])).toEqual([
      ['b', 'GELU'],
      ['c', 'Linear'],
    ]);
    expect(Object.keys(d.stateDict())).toEqual(['c.weight', 'c.bias']);
    expect(() => d.forward()).toThrow(/no forward/);
  });
});

describe("call(): forward hooks and a memory scope, as PyTorch's module(...)", () => {
  // A layer whose forward makes a throw-away intermediate, as a transformer block does.
  class TwiceThenAddOne extends nn.Module {
    forward(x: Tensor): Tensor {
      const doubled = x.mul(2);
      return doubled.add(1);
    }
  }

  it('runs forward inside tidy: intermediates are freed when call returns, the output is not', () => {
    const m = new TwiceThenAddOne();
    const x = tensor([1, 2]);
    const before = liveCount();
    const y = m.call(x);
    expect(liveCount()).toBe(before + 1); // the output only; forward() alone would leave `doubled` live too
    expect(values(y)).toEqual([3, 5]);
    y.dispose();
    x.dispose();
  });

  it('pre-hooks replace the arguments, hooks replace the output, in registration order; remove() unregisters', () => {
    const m = new TwiceThenAddOne();
    const seen: string[] = [];
    const pre = m.registerForwardPreHook((mod, args) => {
      seen.push(`pre ${mod === m} ${values(args[0] as Tensor)}`);
      return (args[0] as Tensor).add(10); // a single value stands for the one argument, as in PyTorch
    });
    const post1 = m.registerForwardHook((_mod, args, out) => {
      seen.push(`post1 ${values(args[0] as Tensor)} -> ${values(out as Tensor)}`);
      return (out as Tensor).neg();
    });
    const post2 = m.registerForwardHook((_mod, _args, out) => {
      seen.push(`post2 ${values(out as Tensor)}`); // returns nothing: the output stays
    });
    expect(post2.id).toBeGreaterThan(post1.id);
    expect(values(m.call(tensor([1])))).toEqual([-23]); // -(2·(1+10)+1)
    expect(seen).toEqual(['pre true 1', 'post1 11 -> 23', 'post2 -23']);
    expect(values(m.forward(tensor([1])))).toEqual([3]); // forward() alone runs no hooks
    pre.remove();
    post1.remove();
    post2.remove();
    post2.remove(); // removing twice is harmless
    seen.length = 0;
    expect(values(m.call(tensor([1])))).toEqual([3]);
    expect(seen).toEqual([]);
  });

  it('children run through call(): a hook on a submodule of a Sequential sees its input', () => {
    const relu = new nn.ReLU();
    const seq = new nn.Sequential(new nn.Identity(), relu);
    const inputs: number[][] = [];
    const h = relu.registerForwardHook((_m, args) => {
      inputs.push(values(args[0] as Tensor));
    });
    expect(values(seq.call(tensor([-1, 2])) as Tensor)).toEqual([0, 2]);
    expect(inputs).toEqual([[-1, 2]]);
    h.remove();
  });
});

function liveCount(): number {
  return memory().numTensors;
}
