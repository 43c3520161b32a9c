// LoRALayer: the low-rank update scaling · (x @ A @ B), with A [in, r] and B [r, out] as in Raschka's from-scratch code.
import { N } from '../native';
import type { Tensor } from '../tensor';
import { wrap } from '../tensor';
import { empty, zeros } from '../creation';
import * as F from '../functional';
import { noGrad } from '../autograd';
import { Module } from '../nn/module';
import * as init from '../nn/init';
import type { DType } from '../dtype';

/** How A starts: Raschka's randn/√r, PEFT's kaiming-uniform(a=√5) on the [r, in] weight, or N(0, 1/r). B always starts at zero. */
export type LoraInit = 'raschka' | 'peft' | 'gaussian';
/** How alpha becomes the multiplier: alpha (Raschka), alpha/r (PEFT and loralib), alpha/√r (rsLoRA). */
export type LoraScaling = 'alpha' | 'alpha/r' | 'rslora';

export interface LoraOptions {
  rank: number;
  alpha: number;
  init?: LoraInit;
  scaling?: LoraScaling;
  dropout?: number;
  /** Where A and B live; LinearWithLoRA passes its base layer's, as PEFT does (bfloat16, float64, cuda, ...). */
  device?: string;
  dtype?: DType;
  /** PEFT's lora_bias: B gets a bias (zero at first) added with the update, scaling · (x A B + b). */
  bias?: boolean;
  /**
   * DoRA (PEFT's use_dora): a magnitude per output feature, the layer computing m / ‖W + scaling·(A B)ᵀ‖ row-wise
   * times (W + scaling·(A B)ᵀ) x. LinearWithLoRA sets the magnitude to the row norms of its weight.
   */
  dora?: boolean;
}

export function loraScaling(alpha: number, rank: number, mode: LoraScaling): number {
  switch (mode) {
    case 'alpha':
      return alpha;
    case 'alpha/r':
      return alpha / rank;
    case 'rslora':
      return alpha / Math.sqrt(rank);
  }
}

export class LoRALayer extends Module {
  A!: Tensor;
  B!: Tensor;
  /** B's bias (PEFT's lora_B.bias), when created with `bias: true`. */
  bias!: Tensor | null;
  /** DoRA's magnitude vector [out] (PEFT's lora_magnitude_vector), when created with `dora: true`. */
  magnitude!: Tensor | null;
  readonly rank: number;
  readonly alpha: number;
  readonly scalingMode: LoraScaling;
  readonly dropoutP: number;

  constructor(
    readonly inDim: number,
    readonly outDim: number,
    opts: LoraOptions,
  ) {
    super();
    if (!Number.isInteger(opts.rank) || opts.rank <= 0)
      throw new Error(`LoRA rank must be a positive integer, got ${opts.rank}`);
    // A rank above both sides adds nothing (the update's rank is at most min(in, out)) and would let a config value
    // alone allocate without bound (issue 14: r = 2e7 OOM-killed the server), so it is refused.
    if (opts.rank > Math.max(inDim, outDim))
      throw new Error(`LoRA rank ${opts.rank} exceeds the layer's size (${inDim} -> ${outDim})`);
    if (!Number.isFinite(opts.alpha)) throw new Error(`LoRA alpha must be a finite number, got ${opts.alpha}`);
    this.rank = opts.rank;
    this.alpha = opts.alpha;
    this.scalingMode = opts.scaling ?? 'alpha';
    this.dropoutP = opts.dropout ?? 0;
    const where = { device: opts.device, dtype: opts.dtype };
    this.registerParameter('A', empty([inDim, this.rank], where));
    this.registerParameter('B', zeros([this.rank, outDim], where));
    if (opts.bias && opts.dora) throw new Error('LoRA: lora_bias together with DoRA is not supported');
    this.registerParameter('bias', opts.bias ? zeros([outDim], where) : null);
    this.registerParameter('magnitude', opts.dora ? zeros([outDim], where) : null);
    this.initA(opts.init ?? 'raschka');
  }

  get scaling(): number {
    return loraScaling(this.alpha, this.rank, this.scalingMode);
  }

  private initA(how: LoraInit): void {
    noGrad(() => {
      if (how === 'raschka') {
        this.A.normal_(0, 1).div_(Math.sqrt(this.rank));
      } else if (how === 'gaussian') {
        this.A.normal_(0, 1 / this.rank);
      } else {
        // PEFT initialises lora_A.weight [r, in] with kaiming_uniform_(a=√5): bound 1/√in, the same for our transpose.
        const bound = 1 / Math.sqrt(this.inDim);
        init.uniform_(this.A, -bound, bound);
      }
    });
  }

  // The LoRA math lives here only (issue 13: LinearWithLoRA and the native loraLinear computed it apart):
  // forward is the update alone, addedTo the base layer's output plus it in one native call.

  /** The update alone, scaling · (dropout(x) A B + bias) (plain LoRA; a DoRA layer needs its base weight: LinearWithLoRA computes it). */
  forward(x: Tensor): Tensor {
    this.refuseDora();
    const input = this.training && this.dropoutP > 0 ? F.dropout(x, this.dropoutP, true) : x;
    const update = input.matmul(this.A).matmul(this.B);
    return (this.bias ? update.add(this.bias) : update).mul(this.scaling);
  }

  /**
   * `base(x) + forward(x)`: x Wᵀ + b + scaling · (dropout(x) A B) in one native call (the sum accumulated in place),
   * plus scaling · bias for PEFT's lora_bias. The dropout mask is drawn once, as in forward.
   */
  addedTo(x: Tensor, base: { weight: Tensor; bias: Tensor | null }): Tensor {
    this.refuseDora();
    const out = wrap(
      N.loraLinear(
        x._h,
        base.weight._h,
        base.bias ? base.bias._h : -1,
        this.A._h,
        this.B._h,
        this.scaling,
        this.dropoutP,
        this.training,
      ),
    );
    if (!this.bias) return out;
    const withBias = out.add(this.bias, this.scaling);
    out.dispose(); // an intermediate: autograd keeps what backward needs
    return withBias;
  }

  private refuseDora(): void {
    if (this.magnitude) throw new Error('LoRALayer: a DoRA adapter runs inside its LinearWithLoRA');
  }

  extraRepr(): string {
    return `in_dim=${this.inDim}, out_dim=${this.outDim}, rank=${this.rank}, alpha=${this.alpha}, scaling=${this.scalingMode}${this.bias ? ', bias=True' : ''}${this.magnitude ? ', dora=True' : ''}`;
  }
}
