// torch.nn.init: in-place initialisers, drawing from libtorch's generator exactly as PyTorch does.
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import { emptyLike, tensor } from '../creation';
import type { Tensor } from '../tensor';
import { where } from '../tensor';

type Nonlinearity = 'linear' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu';

export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
  }
}

/** fan_in and fan_out as torch.nn.init computes them ([out, in, *kernel] layout). */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new Error('Fan in and fan out can not be computed for tensor with fewer than 2 dimensions');
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return [s[1] * receptive, s[0] * receptive];
}

let skipping = 0;

/**
 * Runs fn with every init function here doing nothing: modules built inside keep their parameters uninitialised,
 * for weights that are about to be loaded (transformers' no_init_weights). Whatever is not loaded must be
 * initialised afterwards.
 */
export function withoutInit<T>(fn: () => T): T {
  skipping++;
  try {
    return fn();
  } finally {
    skipping--;
  }
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  return skipping ? t : noGrad(() => t.uniform_(a, b));
}
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return skipping ? t : noGrad(() => t.normal_(mean, std));
}
export function zeros_(t: Tensor): Tensor {
  return skipping ? t : noGrad(() => t.zero_());
}
export function ones_(t: Tensor): Tensor {
  return skipping ? t : noGrad(() => t.fill_(1));
}
export function constant_(t: Tensor, value: number): Tensor {
  return skipping ? t : noGrad(() => t.fill_(value));
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const fan = (opts.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  const bound = Math.sqrt(3) * (gain / Math.sqrt(fan));
  return uniform_(t, -bound, bound);
}
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const fan = (opts.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  return normal_(t, 0, gain / Math.sqrt(fan));
}
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2 / (fanIn + fanOut));
  const bound = Math.sqrt(3) * std; // the same rounding as PyTorch's
  return uniform_(t, -bound, bound);
}
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}
export interface TruncNormalOptions {
  /**
   * 'rejection' (default): PyTorch's current method (2.13): normal draws redrawn until inside [a, b] when the
   * interval holds more than 30% of the mass, else uniform proposals on [a, b] accepted by the density. 'inverse-cdf':
   * the method of earlier releases (1.13 and 2.x before the change), u ~ U(2Φ(α)−1, 2Φ(β)−1), x = mean + std·√2·erfinv(u),
   * clamped — for the same numbers as those releases after the same seed.
   */
  method?: 'rejection' | 'inverse-cdf';
}

/** N(mean, std) truncated to [a, b], drawing the same random numbers as PyTorch's nn.init.trunc_normal_. */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, opts: TruncNormalOptions = {}): Tensor {
  return (opts.method ?? 'rejection') === 'rejection'
    ? truncNormalRejection(t, mean, std, a, b)
    : truncNormalInverseCdf(t, mean, std, a, b);
}

const normCdf = (x: number) =>
  tidy(
    () =>
      (1 +
        (tensor([x / Math.SQRT2], { dtype: 'float64' })
          .erf()
          .item() as number)) /
      2,
  );

function truncNormalRejection(t: Tensor, mean: number, std: number, a: number, b: number): Tensor {
  return noGrad(() => {
    const p = normCdf((b - mean) / std) - normCdf((a - mean) / std);
    if (p > 0.3) {
      // The bounds in the tensor's dtype, so that the rejection test sees the values the tensor can hold.
      const [lo, hi] = tidy(() => tensor([a, b], { dtype: t.dtype }).double().dataSync() as Float64Array);
      t.normal_(mean, std);
      for (;;) {
        const done = tidy(() => {
          const mask = t.lt(lo).logicalOr(t.gt(hi));
          if (!mask.any().item()) return true;
          t.copy_(where(mask, emptyLike(t).normal_(mean, std), t));
          return false;
        });
        if (done) return t;
      }
    }
    const mode = Math.max(a, Math.min(mean, b));
    const logPeak = -0.5 * ((mode - mean) / std) ** 2;
    // log of the acceptance ratio of a proposal x: -((x - mean)/std)^2/2 - logPeak; accepted when log(u) <= it.
    const logRatio = (x: Tensor) => x.sub(mean).div(std).pow(2).mul(-0.5).sub(logPeak);
    return tidy(() => {
      t.uniform_(a, b);
      const acceptBuf = emptyLike(t);
      let pending = acceptBuf.uniform_().log().gt(logRatio(t));
      while (pending.any().item()) {
        const next = tidy(() => {
          const candidates = emptyLike(t).uniform_(a, b);
          t.copy_(where(pending, candidates, t));
          return where(pending, acceptBuf.uniform_().log().gt(logRatio(candidates)), pending);
        });
        pending.dispose();
        pending = next;
      }
      return t;
    });
  });
}

function truncNormalInverseCdf(t: Tensor, mean: number, std: number, a: number, b: number): Tensor {
  return noGrad(() =>
    tidy(() => {
      const erf = (xs: Float64Array) => tensor(xs).erf().dataSync() as Float64Array;
      const [ea, eb] = erf(Float64Array.of((a - mean) / std / Math.SQRT2, (b - mean) / std / Math.SQRT2));
      const l = (1 + ea) / 2;
      const u = (1 + eb) / 2;
      t.uniform_(2 * l - 1, 2 * u - 1);
      const y = t.double().dataSync() as Float64Array;
      const x = erfinvApprox(y);
      // Two Newton steps, as ATen's calc_erfinv does after its rational approximation.
      for (let it = 0; it < 2; it++) {
        const e = erf(x);
        for (let i = 0; i < x.length; i++) {
          if (!Number.isFinite(x[i])) continue;
          x[i] -= (e[i] - y[i]) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x[i] * x[i]));
        }
      }
      const scale = std * Math.sqrt(2);
      for (let i = 0; i < x.length; i++) x[i] = Math.min(Math.max(x[i] * scale + mean, a), b);
      t.copy_(tensor(x).reshape(t.shape));
      return t;
    }),
  );
}

/** The rational first approximation of erfinv in ATen's calc_erfinv (refined by Newton steps by the caller). */
function erfinvApprox(y: Float64Array): Float64Array {
  const A = [0.886226899, -1.645349621, 0.914624893, -0.140543331];
  const B = [-2.118377725, 1.442710462, -0.329097515, 0.012229801];
  const C = [-1.970840454, -1.624906493, 3.429567803, 1.641345311];
  const D = [3.5438892, 1.6370678];
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    const abs = Math.abs(v);
    if (abs > 1) out[i] = NaN;
    else if (abs === 1) out[i] = v > 0 ? Infinity : -Infinity;
    else if (abs <= 0.7) {
      const z = v * v;
      const num = ((A[3] * z + A[2]) * z + A[1]) * z + A[0];
      const dem = (((B[3] * z + B[2]) * z + B[1]) * z + B[0]) * z + 1;
      out[i] = (v * num) / dem;
    } else {
      const z = Math.sqrt(-Math.log((1 - abs) / 2));
      const num = ((C[3] * z + C[2]) * z + C[1]) * z + C[0];
      const dem = (D[1] * z + D[0]) * z + 1;
      out[i] = (v < 0 ? -num : num) / dem;
    }
  }
  return out;
}
