// Optimizers, schedules and clip_grad_norm_ against PyTorch's own numbers (test/fixtures/nn.json or nn.torch2.json, written by
// tools/make_nn_fixtures.py with Debian's PyTorch). Parameters are float64 so that 1e-6 is a meaningful bound.
import type { DType } from '../../lib';
import { Tensor, tensor, zeros, nn, optim } from '../../lib';
import { otherDevice, skippedWithoutGpu } from '../helpers/devices';
import { readFixture } from '../helpers/fixture-file';

interface Enc {
  shape: number[];
  dtype: string;
  values: number[];
}
type Group = Record<string, unknown> & { params: number[] };
interface Trajectory {
  name: string;
  optimizer: 'Adam' | 'AdamW' | 'SGD';
  defaults: Record<string, unknown>;
  groups: Group[] | null;
  steps: [number[], number[]][];
  state: Record<string, Record<string, number | number[]>>;
  state_after_3: Record<string, Record<string, number | number[]>>;
}
interface StateDictFx {
  optimizer: 'Adam' | 'AdamW' | 'SGD';
  kwargs: Record<string, unknown>;
  state_indices: number[];
  state_keys: Record<string, string[]>;
  state_steps: Record<string, number | null>;
  param_groups: Record<string, unknown>[];
  frozen_has_grad: boolean;
}
interface ScheduleFx {
  kind: 'linear' | 'cosine';
  warmup: number;
  total: number;
  steps: number;
  num_cycles: number | null;
  base_lrs: number[];
  last_lr: number[][];
  group_lr: number[][];
  final_state: { last_epoch: number; base_lrs: number[] };
}
interface ClipFx {
  name: string;
  max_norm: number;
  norm_type: number | 'inf';
  dtype: DType;
  grads: Enc[];
  total_norm: number;
  clipped: Enc[];
}

const FX = readFixture('nn').optim;
const PROBLEM = FX.problem as Record<'X' | 'Y' | 'W0' | 'b0', Enc>;
const TRAJECTORIES = FX.trajectories as Trajectory[];
const STATE_DICTS = FX.state_dict as StateDictFx[];
const SCHEDULES = FX.schedules as ScheduleFx[];
const CLIPS = FX.clip as ClipFx[];

const fromEnc = (e: Enc): Tensor => tensor(e.values, { dtype: e.dtype as DType }).reshape(e.shape);
const values = (t: Tensor): number[] => Array.from(t.double().dataSync() as Float64Array);
const maxDiff = (got: number[], want: number[]) => {
  expect(got).toHaveLength(want.length);
  return got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
};
const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const camelOpts = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [camel(k), v]));

// ------------------------------------------------------------------------------------------------ the problem
const X = fromEnc(PROBLEM.X);
const Y = fromEnc(PROBLEM.Y);

function makeParams(): [Tensor, Tensor] {
  return [fromEnc(PROBLEM.W0).requiresGrad_(), fromEnc(PROBLEM.b0).requiresGrad_()];
}
/** loss = sum((X W + b - Y)^2) */
function backward(W: Tensor, b: Tensor): void {
  X.matmul(W).add(b).sub(Y).pow(2).sum().backward();
}

type AnyOptimizer = optim.Optimizer<{ lr: number }, Record<string, Tensor | number>>;
function makeOptimizer(fx: Pick<Trajectory, 'optimizer' | 'defaults' | 'groups'>, params: Tensor[]): AnyOptimizer {
  const defaults = camelOpts(fx.defaults);
  const arg =
    fx.groups === null
      ? params
      : fx.groups.map(({ params: ids, ...rest }) => ({ ...camelOpts(rest), params: ids.map((i) => params[i]) }));
  /* eslint-disable @typescript-eslint/no-explicit-any */
  switch (fx.optimizer) {
    case 'Adam':
      return new optim.Adam(arg as any, defaults) as unknown as AnyOptimizer;
    case 'AdamW':
      return new optim.AdamW(arg as any, defaults) as unknown as AnyOptimizer;
    case 'SGD':
      return new optim.SGD(arg as any, defaults as any) as unknown as AnyOptimizer;
  }
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

function trainStep(opt: AnyOptimizer, W: Tensor, b: Tensor): void {
  opt.zeroGrad();
  backward(W, b);
  opt.step();
}

/** Our state dict's state, flattened like the fixture's (PyTorch's snake_case keys, numbers and value lists). */
function flatState(opt: AnyOptimizer): Record<string, Record<string, number | number[]>> {
  const out: Record<string, Record<string, number | number[]>> = {};
  for (const [i, s] of Object.entries(opt.stateDict().state)) {
    out[i] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v instanceof Tensor ? values(v) : v]));
  }
  return out;
}
function expectStateMatches(opt: AnyOptimizer, want: Trajectory['state']): void {
  const got = flatState(opt);
  const wantNonEmpty = Object.entries(want).filter(([, s]) => Object.keys(s).length > 0);
  // PyTorch 1.13 keeps {momentum_buffer: None} for SGD without momentum; we keep no state (or an empty one when
  // such a state was loaded).
  const gotNonEmpty = Object.keys(got).filter((i) => Object.keys(got[i]).length > 0);
  expect(gotNonEmpty.sort()).toEqual(wantNonEmpty.map(([i]) => i).sort());
  for (const [i, s] of wantNonEmpty) {
    expect(Object.keys(got[i]).sort()).toEqual(Object.keys(s).sort());
    for (const [k, v] of Object.entries(s)) {
      if (typeof v === 'number') expect({ i, k, v: got[i][k] }).toEqual({ i, k, v });
      else expect(maxDiff(got[i][k] as number[], v)).toBeLessThanOrEqual(1e-9);
    }
  }
}

// ================================================================================================ trajectories
describe.each(TRAJECTORIES.map((t) => [t.name, t] as const))('%s', (_name, fx) => {
  it('every step matches PyTorch to 1e-6', () => {
    const [W, b] = makeParams();
    const opt = makeOptimizer(fx, [W, b]);
    let worst = 0;
    fx.steps.forEach(([wantW, wantB], step) => {
      trainStep(opt, W, b);
      const d = Math.max(maxDiff(values(W), wantW), maxDiff(values(b), wantB));
      if (d > 1e-6) throw new Error(`step ${step + 1}: max |diff| ${d}`);
      worst = Math.max(worst, d);
    });
    expect(worst).toBeLessThanOrEqual(1e-6);
    // the parameters really moved
    expect(maxDiff(values(W), PROBLEM.W0.values)).toBeGreaterThan(1e-6);
    expectStateMatches(opt, fx.state);
  });

  it('stateDict after 3 steps + loadStateDict into a fresh optimizer resumes exactly', () => {
    const [W, b] = makeParams();
    const opt = makeOptimizer(fx, [W, b]);
    for (let i = 0; i < 3; i++) trainStep(opt, W, b);
    expectStateMatches(opt, fx.state_after_3);
    const sd = opt.stateDict();

    // A fresh optimizer with other hyper-parameters: loadStateDict brings back the saved ones.
    const W2 = W.detach().clone().requiresGrad_();
    const b2 = b.detach().clone().requiresGrad_();
    const other = {
      ...fx,
      defaults: { ...fx.defaults, lr: 123 },
      groups: fx.groups?.map((g) => ({ ...g, lr: 456 })) ?? null,
    };
    const opt2 = makeOptimizer(other, [W2, b2]);
    opt2.loadStateDict(sd);
    expect(opt2.paramGroups.map((g) => g.options.lr)).toEqual(opt.paramGroups.map((g) => g.options.lr));
    // The loaded state is a copy: stepping the old optimizer does not change it.
    trainStep(opt, W, b);
    for (let i = 3; i < 5; i++) {
      trainStep(opt2, W2, b2);
      const [wantW, wantB] = fx.steps[i];
      expect(Math.max(maxDiff(values(W2), wantW), maxDiff(values(b2), wantB))).toBeLessThanOrEqual(1e-6);
    }
    expectStateMatches(opt2, fx.state);
  });

  it("loads PyTorch's own state after 3 steps (step as a 0-dim tensor) and continues like PyTorch", () => {
    const W = tensor(fx.steps[2][0], { dtype: 'float64' }).reshape(PROBLEM.W0.shape).requiresGrad_();
    const b = tensor(fx.steps[2][1], { dtype: 'float64' }).requiresGrad_();
    const opt = makeOptimizer(fx, [W, b]);
    const shapes = [PROBLEM.W0.shape, PROBLEM.b0.shape];
    const state: Record<number, Record<string, Tensor | number>> = {};
    for (const [i, s] of Object.entries(fx.state_after_3)) {
      state[Number(i)] = Object.fromEntries(
        Object.entries(s).map(([k, v]) => [
          k,
          k === 'step'
            ? tensor([v as number], { dtype: 'float32' }).reshape([])
            : tensor(v as number[], { dtype: 'float64' }).reshape(shapes[Number(i)]),
        ]),
      );
    }
    opt.loadStateDict({ state, param_groups: opt.stateDict().param_groups });
    for (let i = 3; i < 5; i++) {
      trainStep(opt, W, b);
      const [wantW, wantB] = fx.steps[i];
      expect(Math.max(maxDiff(values(W), wantW), maxDiff(values(b), wantB))).toBeLessThanOrEqual(1e-6);
    }
    expectStateMatches(opt, fx.state);
  });
});

// ================================================================================================ state dict shape
// The same trajectories on a GPU (test/helpers/devices.ts).
if (otherDevice === null) {
  describe('optimizer trajectories on cuda', () => skippedWithoutGpu('the optimizer trajectories'));
} else {
  describe.each(TRAJECTORIES.map((t) => [t.name, t] as const))(`%s on ${otherDevice}`, (_name, fx) => {
    it('every step matches PyTorch to 1e-6', () => {
      const [W, b] = [
        fromEnc(PROBLEM.W0).to(otherDevice).requiresGrad_(),
        fromEnc(PROBLEM.b0).to(otherDevice).requiresGrad_(),
      ];
      const [Xd, Yd] = [X.to(otherDevice), Y.to(otherDevice)];
      const opt = makeOptimizer(fx, [W, b]);
      fx.steps.forEach(([wantW, wantB], step) => {
        opt.zeroGrad();
        Xd.matmul(W).add(b).sub(Yd).pow(2).sum().backward();
        opt.step();
        const d = Math.max(maxDiff(values(W), wantW), maxDiff(values(b), wantB));
        if (d > 1e-6) throw new Error(`step ${step + 1}: max |diff| ${d}`);
      });
      expect(W.device).toBe(otherDevice === 'cuda' ? 'cuda:0' : otherDevice);
    });
  });
}

describe("optimizer stateDict() has the shape of PyTorch's", () => {
  it.each(STATE_DICTS.map((s) => [s.optimizer, s] as const))('%s', (_n, fx) => {
    const [W, b] = makeParams();
    const frozen = zeros([2], { dtype: 'float64' }).requiresGrad_();
    const opt = makeOptimizer({ optimizer: fx.optimizer, defaults: fx.kwargs, groups: null }, [W, b, frozen]);
    for (let i = 0; i < 2; i++) trainStep(opt, W, b);
    expect(frozen.grad !== null).toBe(fx.frozen_has_grad);
    // parameters without .grad are skipped: no state, no change
    expect(opt.state.has(frozen)).toBe(false);
    expect(values(frozen)).toEqual([0, 0]);

    const sd = opt.stateDict();
    expect(Object.keys(sd.state).map(Number).sort()).toEqual(fx.state_indices);
    for (const [i, keys] of Object.entries(fx.state_keys)) {
      expect(Object.keys(sd.state[Number(i)]).sort()).toEqual(keys);
      const step = fx.state_steps[i];
      if (step !== null) expect(sd.state[Number(i)].step).toBe(step);
    }
    expect(sd.param_groups).toHaveLength(fx.param_groups.length);
    sd.param_groups.forEach((g, gi) => {
      const want = fx.param_groups[gi];
      // every key we write is one of PyTorch's, with PyTorch's value (PyTorch also has foreach, capturable, ...)
      for (const [k, v] of Object.entries(g)) {
        expect(Object.keys(want)).toContain(k);
        expect({ k, v }).toEqual({ k, v: want[k] });
      }
      for (const k of ['lr', 'params', 'weight_decay', 'maximize']) expect(Object.keys(g)).toContain(k);
    });
  });

  it('loadStateDict rejects a different number of groups or group sizes', () => {
    const [W, b] = makeParams();
    const opt = new optim.Adam([W, b]);
    const two = new optim.Adam([{ params: [W] }, { params: [b] }]);
    expect(() => two.loadStateDict(opt.stateDict())).toThrow(/different number of parameter groups/);
    const one = new optim.Adam([W]);
    expect(() => one.loadStateDict(opt.stateDict())).toThrow(/doesn't match the size/);
  });

  it('rejects a parameter in two groups and an empty list', () => {
    const [W, b] = makeParams();
    expect(() => new optim.SGD([{ params: [W, b] }, { params: [b] }], { lr: 0.1 })).toThrow(
      /more than one parameter group/,
    );
    expect(() => new optim.AdamW([])).toThrow(/empty parameter list/);
    expect(() => new optim.SGD([W], { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
  });
});

// ================================================================================================ zeroGrad
describe('zeroGrad', () => {
  it('setToNone (the default) drops the gradients; setToNone: false zeroes them in place', () => {
    const [W, b] = makeParams();
    const opt = new optim.SGD([W, b], { lr: 0.01 });
    backward(W, b);
    expect(W.hasGrad && b.hasGrad).toBe(true);
    opt.zeroGrad({ setToNone: false });
    expect(W.hasGrad).toBe(true);
    expect(values(W.grad!)).toEqual(new Array(12).fill(0));
    expect(values(b.grad!)).toEqual([0, 0, 0]);
    // a zero gradient still counts as a gradient: with no momentum and no decay the step changes nothing
    opt.step();
    expect(values(W)).toEqual(PROBLEM.W0.values);
    // accumulation starts again from zero: one backward gives PyTorch's first SGD step
    backward(W, b);
    opt.step();
    const sgd = TRAJECTORIES.find((t) => t.name === 'sgd_plain')!;
    expect(maxDiff(values(W), sgd.steps[0][0])).toBeLessThanOrEqual(1e-9);
    opt.zeroGrad();
    expect(W.hasGrad || b.hasGrad).toBe(false);
    expect(W.grad).toBeNull();
    opt.zeroGrad(); // nothing to clear: no error
    opt.step(); // no gradients: nothing happens
    expect(maxDiff(values(W), sgd.steps[0][0])).toBeLessThanOrEqual(1e-9);
  });

  it('Adam skips parameters without a gradient, then creates their state on their first one', () => {
    const [W, b] = makeParams();
    const opt = new optim.Adam([W, b], { lr: 0.05 });
    backward(W, b);
    b.grad = null;
    opt.step();
    expect(opt.state.has(W)).toBe(true);
    expect(opt.state.has(b)).toBe(false);
    expect(values(b)).toEqual(PROBLEM.b0.values);
    expect(Object.keys(opt.stateDict().state)).toEqual(['0']);
  });
});

// ================================================================================================ schedules
describe.each(
  SCHEDULES.map(
    (s) =>
      [
        `${s.kind} warmup=${s.warmup} total=${s.total}${s.num_cycles !== null ? ` cycles=${s.num_cycles}` : ''}`,
        s,
      ] as const,
  ),
)('schedule %s', (_n, fx) => {
  const make = () => {
    const ps = fx.base_lrs.map(() => zeros([1]).requiresGrad_());
    const opt = new optim.SGD(
      ps.map((p, i) => ({ params: [p], lr: fx.base_lrs[i] })),
      { lr: 1 },
    );
    const sched =
      fx.kind === 'linear'
        ? optim.linearScheduleWithWarmup(opt, fx.warmup, fx.total)
        : optim.cosineScheduleWithWarmup(opt, fx.warmup, fx.total, fx.num_cycles ?? 0.5);
    return { opt, sched };
  };
  const close = (got: number[], want: number[]) => expect(maxDiff(got, want)).toBeLessThanOrEqual(1e-15);

  it("the lr sequence equals LambdaLR's", () => {
    const { opt, sched } = make();
    close(sched.getLastLr(), fx.last_lr[0]);
    close(
      opt.paramGroups.map((g) => g.options.lr),
      fx.group_lr[0],
    );
    for (let i = 1; i <= fx.steps; i++) {
      opt.step();
      sched.step();
      close(sched.getLastLr(), fx.last_lr[i]);
      close(
        opt.paramGroups.map((g) => g.options.lr),
        fx.group_lr[i],
      );
    }
    expect(sched.stateDict()).toEqual(fx.final_state);
  });

  it('stateDict/loadStateDict resumes the sequence', () => {
    const { sched } = make();
    const half = Math.floor(fx.steps / 2);
    for (let i = 0; i < half; i++) sched.step();
    const saved = JSON.parse(JSON.stringify(sched.stateDict()));
    const { opt: opt2, sched: sched2 } = make();
    sched2.loadStateDict(saved);
    close(sched2.getLastLr(), fx.last_lr[half]);
    for (let i = half + 1; i <= fx.steps; i++) {
      sched2.step();
      close(
        opt2.paramGroups.map((g) => g.options.lr),
        fx.group_lr[i],
      );
    }
  });
});

// ================================================================================================ clip_grad_norm_
describe.each(CLIPS.map((c) => [c.name, c] as const))('clipGradNorm_ %s', (_n, fx) => {
  it('returns the total norm and scales the gradients as PyTorch does', () => {
    const tol = fx.dtype === 'float64' ? 1e-12 : 1e-6;
    const ps = fx.grads.map((g) => zeros(g.shape, { dtype: fx.dtype }).requiresGrad_());
    ps.forEach((p, i) => (p.grad = fromEnc(fx.grads[i])));
    const normType = fx.norm_type === 'inf' ? Infinity : fx.norm_type;
    const total = nn.clipGradNorm_(ps, fx.max_norm, normType);
    expect(Math.abs(total - fx.total_norm)).toBeLessThanOrEqual(tol * Math.max(1, fx.total_norm));
    ps.forEach((p, i) => {
      expect(p.grad!.dtype).toBe(fx.dtype);
      expect(maxDiff(values(p.grad!), fx.clipped[i].values)).toBeLessThanOrEqual(tol);
    });
  });
});

describe('clipGradNorm_ edge cases', () => {
  it('skips parameters without a gradient and returns 0 when none has one', () => {
    const fx = CLIPS.find((c) => c.name === 'l2')!;
    const ps = fx.grads.map((g) => zeros(g.shape, { dtype: 'float64' }).requiresGrad_());
    ps.forEach((p, i) => (p.grad = fromEnc(fx.grads[i])));
    const extra = zeros([5], { dtype: 'float64' }).requiresGrad_();
    const total = nn.clipGradNorm_([...ps, extra], fx.max_norm);
    expect(Math.abs(total - fx.total_norm)).toBeLessThanOrEqual(1e-12);
    expect(extra.grad).toBeNull();
    expect(nn.clipGradNorm_([extra], 1)).toBe(0);
    expect(nn.utils.clipGradNorm_(new Set(ps), fx.max_norm)).toBeLessThanOrEqual(fx.max_norm + 1e-6);
  });
});
