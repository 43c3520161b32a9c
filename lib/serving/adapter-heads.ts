// Per-adapter copies of the modules an adapter saves whole (PEFT's modules_to_save, e.g. the classifier head).
// loadAdapter copies those weights into the model's own modules, so with several adapters the last one loaded would
// win. Here every adapter gets its own parameter tensors for them, and switching adapters re-points the modules'
// parameters at that adapter's tensors (or back at the base model's): no weights are copied per batch.
import { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { keep } from '../scope';
import { noGrad } from '../autograd';
import { loadAdapter, deleteAdapter, savedParameterShapes } from '../lora';
import { zeros } from '../creation';

/** One parameter of a saved module: the module that owns it and its local name. */
interface Slot {
  owner: Module;
  name: string;
}

export class AdapterHeads {
  private readonly slots = new Map<string, Slot>();
  /** The base model's tensor for every slot any adapter uses. */
  private readonly base = new Map<string, Tensor>();
  private readonly byAdapter = new Map<string, Map<string, Tensor>>();
  private active: string | null = null;

  constructor(private readonly model: Module) {}

  /** loadAdapter, with the adapter's saved modules loaded into its own tensors; the model's modules stay as they were. */
  load(name: string, dir: string): void {
    // The modules PEFT's rules say this adapter saved (its suffix matching also catches pre_classifier for 'classifier').
    const saved = savedParameterShapes(this.model, dir);
    this.use(null);
    const own = new Map<string, Tensor>();
    for (const [key, slot] of this.slotsOf([...saved.keys()])) {
      const baseTensor = this.param(slot);
      if (!this.base.has(key)) this.base.set(key, baseTensor);
      // A head for other classes than the base model's (3 where it has 2) gets tensors of its own shape.
      const shape = savedShape(saved, key) ?? baseTensor.shape;
      const sameShape = shape.length === baseTensor.shape.length && shape.every((d, i) => d === baseTensor.shape[i]);
      const copy = keep(noGrad(() => (sameShape ? baseTensor.clone() : zeros(shape, { dtype: baseTensor.dtype, device: baseTensor.device }))));
      slot.owner.registerParameter(slot.name, copy, false);
      own.set(key, copy);
    }
    try {
      loadAdapter(this.model, dir, { adapterName: name, activate: false });
    } catch (e) {
      deleteAdapter(this.model, name);
      own.forEach((t) => t.dispose());
      throw e;
    } finally {
      this.pointAt(this.base, own.keys());
    }
    this.byAdapter.set(name, own);
  }

  /** Points the saved modules at `name`'s tensors (null: the base model's). */
  use(name: string | null): void {
    if (name === this.active) return;
    if (this.active !== null) this.pointAt(this.base, this.byAdapter.get(this.active)?.keys() ?? []);
    const own = name === null ? undefined : this.byAdapter.get(name);
    if (own) this.pointAt(own, own.keys());
    this.active = name;
  }

  remove(name: string): void {
    if (this.active === name) this.use(null);
    this.byAdapter.get(name)?.forEach((t) => t.dispose());
    this.byAdapter.delete(name);
  }

  private slotsOf(saved: string[]): Map<string, Slot> {
    const out = new Map<string, Slot>();
    for (const moduleName of saved) {
      const m = this.model.getSubmodule(moduleName);
      for (const [subName, sub] of m.namedModules(moduleName)) {
        for (const [pn] of sub.namedParameters('', false)) {
          const key = `${subName}.${pn}`;
          if (!this.slots.has(key)) this.slots.set(key, { owner: sub, name: pn });
          out.set(key, this.slots.get(key)!);
        }
      }
    }
    return out;
  }

  private param(slot: Slot): Tensor {
    const t = (slot.owner as unknown as Record<string, unknown>)[slot.name];
    if (!(t instanceof Tensor)) throw new Error(`${slot.owner.constructor.name}.${slot.name} is not a parameter tensor`);
    return t;
  }

  private pointAt(tensors: Map<string, Tensor>, keys: Iterable<string>): void {
    for (const key of keys) {
      const slot = this.slots.get(key)!;
      slot.owner.registerParameter(slot.name, tensors.get(key)!, false);
    }
  }
}

/** The shape saved for the parameter `key` ('module.sub.param'), found under the saved module that contains it. */
function savedShape(saved: Map<string, Map<string, number[]>>, key: string): number[] | undefined {
  for (const [moduleName, params] of saved) {
    if (key.startsWith(`${moduleName}.`)) return params.get(key.slice(moduleName.length + 1));
  }
  return undefined;
}
