// LoRALayer: the low-rank update scaling · (x @ A @ B), with A [in, r] and B [r, out] as in Raschka's from-scratch code.
import { Tensor } from '../tensor';
import { empty, zeros } from '../creation';
import * as F from '../functional';
import { noGrad } from '../autograd';
import { Module } from '../nn/module';
import * as init from '../nn/init';

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
  device?: string;
}

export function loraScaling(alpha: number, rank: number, mode: LoraScaling): number {
  switch (mode) {
    case 'alpha': return alpha;
    case 'alpha/r': return alpha / rank;
    case 'rslora': return alpha / Math.sqrt(rank);
  }
}

export class LoRALayer extends Module {
  A!: Tensor;
  B!: Tensor;
  readonly rank: number;
  readonly alpha: number;
  readonly scalingMode: LoraScaling;
  readonly dropoutP: number;

  constructor(readonly inDim: number, readonly outDim: number, opts: LoraOptions) {
    super();
    if (!Number.isInteger(opts.rank) || opts.rank <= 0) throw new Error(`LoRA rank must be a positive integer, got ${opts.rank}`);
    this.rank = opts.rank;
    this.alpha = opts.alpha;
    this.scalingMode = opts.scaling ?? 'alpha';
    this.dropoutP = opts.dropout ?? 0;
    this.registerParameter('A', empty([inDim, this.rank], { device: opts.device }));
    this.registerParameter('B', zeros([this.rank, outDim], { device: opts.device }));
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

  forward(x: Tensor): Tensor {
    const input = this.training && this.dropoutP > 0 ? F.dropout(x, this.dropoutP, true) : x;
    return input.matmul(this.A).matmul(this.B).mul(this.scaling);
  }

  extraRepr(): string {
    return `in_dim=${this.inDim}, out_dim=${this.outDim}, rank=${this.rank}, alpha=${this.alpha}, scaling=${this.scalingMode}`;
  }
}
