// SGD with momentum, dampening, Nesterov and weight decay, as torch.optim.SGD computes it.
import { N } from '../native';
import type { Tensor } from '../tensor';
import { zerosLike } from '../creation';
import type { ParamsArg } from './optimizer';
import { Optimizer } from './optimizer';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}
type SGDState = { momentumBuffer: Tensor };

export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: ParamsArg<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts });
    const o = this.defaults;
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0))
      throw new Error('Nesterov momentum requires a momentum and zero dampening');
  }

  step(): void {
    for (const g of this.paramGroups) {
      const o = g.options;
      const ps = this.withGrad(g);
      if (ps.length === 0) continue;
      if (o.momentum === 0) {
        N.sgdStep(
          ps.map((p) => p._h),
          null,
          false,
          o.lr,
          0,
          o.dampening,
          o.weightDecay,
          o.nesterov,
          o.maximize,
        );
        continue;
      }
      // The first step copies the gradient into new buffers; later steps update them.
      const fresh = ps.filter((p) => !this.state.has(p));
      const old = ps.filter((p) => this.state.has(p));
      for (const p of fresh) this.state.set(p, { momentumBuffer: this.stateTensor(zerosLike(p)) });
      for (const [list, first] of [
        [fresh, true],
        [old, false],
      ] as [Tensor[], boolean][]) {
        if (list.length === 0) continue;
        N.sgdStep(
          list.map((p) => p._h),
          list.map((p) => this.state.get(p)!.momentumBuffer._h),
          first,
          o.lr,
          o.momentum,
          o.dampening,
          o.weightDecay,
          o.nesterov,
          o.maximize,
        );
      }
    }
  }
}
