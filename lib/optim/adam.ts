// Adam and AdamW, computed natively in one call per parameter group with torch.optim's exact formulas.
import { N } from '../native';
import type { Tensor } from '../tensor';
import { zerosLike } from '../creation';
import type { ParamsArg } from './optimizer';
import { Optimizer } from './optimizer';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}
type AdamState = { step: number; expAvg: Tensor; expAvgSq: Tensor; maxExpAvgSq?: Tensor };

class AdamBase extends Optimizer<AdamOptions, AdamState> {
  constructor(
    params: ParamsArg<AdamOptions>,
    opts: Partial<AdamOptions>,
    defaultWeightDecay: number,
    private readonly decoupled: boolean,
  ) {
    super(params, {
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: defaultWeightDecay,
      amsgrad: false,
      maximize: false,
      ...opts,
    });
  }

  step(): void {
    for (const g of this.paramGroups) {
      const o = g.options;
      const ps = this.withGrad(g);
      if (ps.length === 0) continue;
      const states = ps.map((p) => this.stateOf(p, o.amsgrad));
      for (const s of states) s.step += 1;
      N.adamStep(
        ps.map((p) => p._h),
        states.map((s) => s.expAvg._h),
        states.map((s) => s.expAvgSq._h),
        o.amsgrad ? states.map((s) => s.maxExpAvgSq!._h) : null,
        states.map((s) => s.step),
        o.lr,
        o.betas[0],
        o.betas[1],
        o.eps,
        o.weightDecay,
        o.amsgrad,
        this.decoupled,
        o.maximize,
      );
    }
  }

  private stateOf(p: Tensor, amsgrad: boolean): AdamState {
    let s = this.state.get(p);
    if (!s) {
      s = { step: 0, expAvg: this.stateTensor(zerosLike(p)), expAvgSq: this.stateTensor(zerosLike(p)) };
      if (amsgrad) s.maxExpAvgSq = this.stateTensor(zerosLike(p));
      this.state.set(p, s);
    }
    return s;
  }
}

/** torch.optim.Adam (L2 weight decay added to the gradient). */
export class Adam extends AdamBase {
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, opts, 0, false);
  }
}

/** torch.optim.AdamW (decoupled weight decay, default 0.01). */
export class AdamW extends AdamBase {
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, opts, 1e-2, true);
  }
}
