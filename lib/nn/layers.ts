// The basic layers: Linear, Embedding, LayerNorm, Dropout, activations, Identity.
import type { Tensor } from '../tensor';
import { empty, ones, zeros } from '../creation';
import * as F from '../functional';
import { Module } from './module';
import { tidy } from '../scope';
import * as init from './init';
import type { DType } from '../dtype';

interface FactoryOptions {
  device?: string;
  dtype?: DType;
}

export class Linear extends Module {
  weight!: Tensor;
  bias!: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: FactoryOptions & { bias?: boolean } = {},
  ) {
    super();
    this.registerParameter('weight', empty([outFeatures, inFeatures], opts));
    this.registerParameter('bias', opts.bias === false ? null : empty([outFeatures], opts));
    this.resetParameters();
  }
  /** PyTorch's default: kaiming-uniform(a=√5) weights, bias uniform in ±1/√fan_in. */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
  extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`;
  }
}

export class Embedding extends Module {
  weight!: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: FactoryOptions & { paddingIdx?: number } = {},
  ) {
    super();
    const pad = opts.paddingIdx;
    this.paddingIdx = pad === undefined ? undefined : pad < 0 ? numEmbeddings + pad : pad;
    this.registerParameter('weight', empty([numEmbeddings, embeddingDim], opts));
    init.normal_(this.weight);
    if (this.paddingIdx !== undefined)
      tidy(() => {
        init.zeros_(this.weight.select(0, this.paddingIdx!));
      });
  }
  readonly paddingIdx: number | undefined;
  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight, { paddingIdx: this.paddingIdx });
  }
  extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== undefined ? `, padding_idx=${this.paddingIdx}` : ''}`;
  }
}

export class LayerNorm extends Module {
  weight!: Tensor | null;
  bias!: Tensor | null;
  readonly normalizedShape: number[];
  /** `bias: false` (PyTorch 2.1+) keeps the scale but learns no shift. */
  constructor(
    normalizedShape: number | number[],
    readonly eps = 1e-5,
    opts: FactoryOptions & { elementwiseAffine?: boolean; bias?: boolean } = {},
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    const affine = opts.elementwiseAffine ?? true;
    this.registerParameter('weight', affine ? ones(this.normalizedShape, opts) : null);
    this.registerParameter('bias', affine && opts.bias !== false ? zeros(this.normalizedShape, opts) : null);
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
  extraRepr(): string {
    // As PyTorch 2.x prints it (1.13 had no `bias` argument).
    return `${pyTuple(this.normalizedShape)}, eps=${pyFloat(this.eps)}, elementwise_affine=${this.weight ? 'True' : 'False'}, bias=${this.bias ? 'True' : 'False'}`;
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (p < 0 || p > 1) throw new Error(`dropout probability has to be between 0 and 1, but got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? F.dropout(x, this.p, true) : x;
  }
  extraRepr(): string {
    return `p=${pyFloat(this.p)}, inplace=False`;
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.gelu(this.approximate);
  }
  extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
}
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return x.silu();
  }
}
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/**
 * Python's repr of a float (1e-12 → '1e-12', 1e-5 → '1e-05', 0.1 → '0.1', 1 → '1.0', 1e16 → '1e+16'): the shortest
 * round-trip digits, in exponent form when the decimal point lies before the 4th digit after it or beyond the 16th.
 */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  if (v === 0) return `${sign}0.0`;
  const [mantissa, expText] = Math.abs(v).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expText);
  const decpt = exp + 1; // digits d1 d2 ... with the decimal point after `decpt` of them
  if (decpt <= -4 || decpt > 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** Python's repr of a tuple of ints: (8,) or (2, 3). */
export function pyTuple(values: number[]): string {
  return `(${values.join(', ')}${values.length === 1 ? ',' : ''})`;
}
