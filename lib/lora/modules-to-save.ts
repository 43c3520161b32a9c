// PEFT's ModulesToSaveWrapper: the modules an adapter saves whole (modules_to_save, e.g. the classifier head) get
// a copy per adapter, and the active adapter's copy is the one that runs; with no adapter active (disableAdapter),
// the base model's own module runs. Before issue 13 loadAdapter copied those weights into the model's own modules,
// so the last adapter loaded silently owned the head (serving kept its own per-adapter copies to avoid it).
//
// PEFT wraps the module (classifier.modules_to_save.<adapter>.weight); here the module stays where it is, with the
// same state-dict keys, and switching adapters re-points its parameters at that adapter's tensors: no weights are
// copied per switch.
import type { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { keep } from '../scope';
import { noGrad } from '../autograd';
import { zeros } from '../creation';

/** One parameter of a saved module: the module that owns it and its local name. */
interface Slot {
  owner: Module;
  name: string;
}

const byModel = new WeakMap<Module, ModulesToSaveWrapper>();

export class ModulesToSaveWrapper {
  /** Every parameter any adapter has a copy of, by its dotted name in the model ('classifier.weight'). */
  private readonly slots = new Map<string, Slot>();
  /** The base model's tensor of each slot, what runs with no adapter active. */
  private readonly base = new Map<string, Tensor>();
  private readonly byAdapter = new Map<string, Map<string, Tensor>>();
  private active: string | null = null;

  private constructor(private readonly model: Module) {}

  /** The model's wrapper, made on first use. */
  static of(model: Module): ModulesToSaveWrapper {
    let w = byModel.get(model);
    if (!w) byModel.set(model, (w = new ModulesToSaveWrapper(model)));
    return w;
  }
  /** The model's wrapper if an adapter with saved modules was ever loaded into it. */
  static existing(model: Module): ModulesToSaveWrapper | undefined {
    return byModel.get(model);
  }

  /** The adapters that have copies. */
  adapters(): string[] {
    return [...this.byAdapter.keys()];
  }
  has(name: string): boolean {
    return this.byAdapter.has(name);
  }
  /** The adapter whose copies the modules hold now (null: the base model's own). */
  get activeAdapter(): string | null {
    return this.active;
  }

  /**
   * Gives adapter `name` its own tensors for the parameters of `modules` (module name -> parameter name -> shape;
   * a head for other classes than the base model's has its own shape). A copy of the base tensor's shape starts as
   * that tensor's values, another starts at zero. Returns them by dotted parameter name; the active adapter is
   * unchanged. `requiresGrad` is the copies' (training the adapter trains them).
   */
  add(name: string, modules: Map<string, Map<string, number[]>>, requiresGrad: boolean): Map<string, Tensor> {
    if (this.byAdapter.has(name)) throw new Error(`adapter '${name}' already has copies of its saved modules`);
    const own = new Map<string, Tensor>();
    for (const [moduleName, params] of modules) {
      for (const [key, slot] of this.slotsOf(moduleName)) {
        if (!this.base.has(key)) this.base.set(key, this.current(key, slot));
        const baseTensor = this.base.get(key)!;
        const shape = params.get(key.slice(moduleName.length + 1)) ?? baseTensor.shape;
        const sameShape = shape.length === baseTensor.shape.length && shape.every((d, i) => d === baseTensor.shape[i]);
        const copy = keep(
          noGrad(() =>
            sameShape ? baseTensor.clone() : zeros(shape, { dtype: baseTensor.dtype, device: baseTensor.device }),
          ),
        );
        copy.requiresGrad_(requiresGrad);
        own.set(key, copy);
      }
    }
    this.byAdapter.set(name, own);
    return own;
  }

  /** Points the saved modules at `name`'s copies; null, or an adapter without copies: the base model's own modules. */
  use(name: string | null): void {
    const target = name !== null && this.byAdapter.has(name) ? name : null;
    if (target === this.active) return;
    if (this.active !== null) this.pointAt(this.base, this.byAdapter.get(this.active)!.keys());
    if (target !== null) {
      const own = this.byAdapter.get(target)!;
      this.pointAt(own, own.keys());
    }
    this.active = target;
  }

  /** Frees `name`'s copies (the base model's modules run again if it was active). */
  remove(name: string): void {
    if (this.active === name) this.use(null);
    this.byAdapter.get(name)?.forEach((t) => t.dispose());
    this.byAdapter.delete(name);
  }

  /**
   * Keeps what the modules hold now for good (mergeAndUnload: PEFT keeps the active adapter's copy) and frees every
   * other copy and the base tensors they replaced.
   */
  unload(): void {
    const inUse = new Set([...this.slots].map(([key, slot]) => this.current(key, slot)));
    for (const own of this.byAdapter.values()) for (const t of own.values()) if (!inUse.has(t)) t.dispose();
    for (const t of this.base.values()) if (!inUse.has(t)) t.dispose();
    this.byAdapter.clear();
    this.base.clear();
    this.slots.clear();
    this.active = null;
    byModel.delete(this.model);
  }

  private slotsOf(moduleName: string): Map<string, Slot> {
    const out = new Map<string, Slot>();
    for (const [subName, sub] of this.model.getSubmodule(moduleName).namedModules(moduleName)) {
      for (const [pn] of sub.namedParameters('', false)) {
        const key = `${subName}.${pn}`;
        if (!this.slots.has(key)) this.slots.set(key, { owner: sub, name: pn });
        out.set(key, this.slots.get(key)!);
      }
    }
    return out;
  }

  private current(key: string, slot: Slot): Tensor {
    const t = (slot.owner as unknown as Record<string, unknown>)[slot.name];
    if (!(t instanceof Tensor)) throw new Error(`${key} is not a parameter tensor`);
    return t;
  }

  private pointAt(tensors: Map<string, Tensor>, keys: Iterable<string>): void {
    for (const key of keys) {
      const slot = this.slots.get(key)!;
      const t = tensors.get(key)!;
      slot.owner.registerParameter(slot.name, t, t.requiresGrad);
    }
  }
}
