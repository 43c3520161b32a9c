// The Optimizer base: param groups, per-parameter state, zeroGrad, and PyTorch-shaped state dicts.
import { N } from '../native';
import { Tensor } from '../tensor';
import { keep } from '../scope';

export interface ParamGroup<O> {
  params: Tensor[];
  options: O;
}
export type ParamsArg<O> = Tensor[] | (Partial<O> & { params: Tensor[] })[];

export interface OptimizerStateDict {
  state: Record<number, Record<string, Tensor | number>>;
  param_groups: Record<string, unknown>[];
}

export abstract class Optimizer<O extends { lr: number }, S extends Record<string, Tensor | number>> {
  readonly paramGroups: ParamGroup<O>[];
  readonly state = new Map<Tensor, S>();

  constructor(
    params: ParamsArg<O>,
    readonly defaults: O,
  ) {
    const list = params as unknown[];
    if (list.length === 0) throw new Error('optimizer got an empty parameter list');
    const groups =
      list[0] instanceof Tensor ? [{ params: list as Tensor[] }] : (list as (Partial<O> & { params: Tensor[] })[]);
    this.paramGroups = groups.map(({ params: ps, ...rest }) => ({
      params: ps,
      options: { ...defaults, ...(rest as Partial<O>) },
    }));
    const seen = new Set<Tensor>();
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error('some parameters appear in more than one parameter group');
        seen.add(p);
      }
    }
  }

  abstract step(): void;

  /** Clears gradients; by default sets them to null (PyTorch 2's default), which frees their memory. */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    for (const g of this.paramGroups)
      N.zeroGrad(
        g.params.map((p) => p._h),
        opts.setToNone ?? true,
      );
  }

  /** The parameters of a group that have a gradient, in order. */
  protected withGrad(g: ParamGroup<O>): Tensor[] {
    return g.params.filter((p) => p.hasGrad);
  }

  /** Makes a state tensor that outlives any tidy scope the step runs in. */
  protected stateTensor(t: Tensor): Tensor {
    return keep(t);
  }

  /** Frees the per-parameter state (moments, momentum buffers); the next step starts it afresh. */
  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const param_groups = this.paramGroups.map((g) => ({
      ...toSnakeCase(g.options as unknown as Record<string, unknown>),
      params: g.params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      }),
    }));
    const state: OptimizerStateDict['state'] = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i !== undefined) state[i] = toSnakeCase(s) as Record<string, Tensor | number>;
    }
    return { state, param_groups };
  }

  loadStateDict(sd: OptimizerStateDict): void {
    if (sd.param_groups.length !== this.paramGroups.length)
      throw new Error('loaded state dict has a different number of parameter groups');
    const params: Tensor[] = [];
    sd.param_groups.forEach((saved, gi) => {
      const g = this.paramGroups[gi];
      const ids = saved.params as number[];
      if (ids.length !== g.params.length)
        throw new Error(
          "loaded state dict contains a parameter group that doesn't match the size of optimizer's group",
        );
      const { params: _ids, ...opts } = saved;
      Object.assign(g.options, fromSnakeCase(opts));
      ids.forEach((id, k) => (params[id] = g.params[k]));
    });
    this.dispose();
    for (const [id, s] of Object.entries(sd.state)) {
      const p = params[Number(id)];
      const copy: Record<string, Tensor | number> = {};
      for (const [k, v] of Object.entries(fromSnakeCase(s))) {
        // torch ≥ 1.12 saves Adam's step as a 0-dim tensor; ours is a number.
        if (k === 'step' && v instanceof Tensor) copy[k] = Number(v.item());
        else copy[k] = v instanceof Tensor ? this.stateTensor(v.clone()) : (v as number);
      }
      this.state.set(p, copy as S);
    }
  }
}

const toSnake = (k: string) => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
const toCamel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
function toSnakeCase(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [toSnake(k), v]));
}
function fromSnakeCase(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [toCamel(k), v]));
}
