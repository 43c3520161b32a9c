// LinearWithLoRA: a frozen Linear plus one or more named LoRA adapters, of which one (or none) is active.
import { N } from '../native';
import { Tensor, wrap } from '../tensor';
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import { Module } from '../nn/module';
import { Linear } from '../nn/layers';
import { ModuleDict } from '../nn/containers';
import { LoRALayer, LoraOptions } from './lora-layer';

export const DEFAULT_ADAPTER = 'default';

/** `next`, after freeing `previous` (an intermediate: the autograd graph keeps what backward needs). */
function replace(previous: Tensor, next: Tensor): Tensor {
  previous.dispose();
  return next;
}

export class LinearWithLoRA extends Module {
  linear!: Linear;
  /** The adapters by name; the state-dict keys read `<name>.lora.<adapter>.A`. */
  lora!: ModuleDict<LoRALayer>;
  /** The adapters whose updates are added, in order (PEFT's set_adapter([...]) makes several active at once). */
  activeAdapters: string[] = [];
  /** The adapter whose update is currently added into linear.weight, if any. */
  mergedAdapter: string | null = null;

  constructor(linear: Linear, rankOrOptions: number | LoraOptions, alpha?: number, adapterName = DEFAULT_ADAPTER) {
    super();
    const opts = typeof rankOrOptions === 'number' ? { rank: rankOrOptions, alpha: alpha ?? 1 } : rankOrOptions;
    this.training = linear.training; // follows the model's mode (PEFT: an adapter loaded for inference is in eval)
    this.registerModule('linear', linear);
    this.registerModule('lora', new ModuleDict<LoRALayer>());
    this.activeAdapter = adapterName;
    this.addAdapter(adapterName, opts);
  }

  /** The first active adapter, or null when the layer runs as its base. */
  get activeAdapter(): string | null { return this.activeAdapters[0] ?? null; }
  set activeAdapter(name: string | null) { this.activeAdapters = name === null ? [] : [name]; }

  get inFeatures(): number { return this.linear.inFeatures; }
  get outFeatures(): number { return this.linear.outFeatures; }

  addAdapter(name: string, opts: LoraOptions): LoRALayer {
    if (this.lora.has(name)) throw new Error(`adapter '${name}' already exists`);
    const w = this.linear.weight;
    if (opts.bias && !this.linear.bias) throw new Error(`adapter '${name}': lora_bias needs a base layer with a bias (PEFT could not merge it either)`);
    // A and B in the base layer's dtype and device (as PEFT creates them), and in the model's mode: a layer added
    // to a model in eval mode must not run dropout.
    const layer = new LoRALayer(this.linear.inFeatures, this.linear.outFeatures, { ...opts, device: w.device, dtype: w.dtype });
    layer.train(this.training);
    this.lora.set(name, layer);
    return layer;
  }
  deleteAdapter(name: string): void {
    const layer = this.adapter(name);
    if (this.mergedAdapter === name) this.unmerge();
    this.lora.delete(name);
    layer.dispose();
    this.activeAdapters = this.activeAdapters.filter((n) => n !== name);
  }
  adapter(name = this.activeAdapter ?? DEFAULT_ADAPTER): LoRALayer {
    const a = this.lora.get(name);
    if (!a) throw new Error(`no LoRA adapter named '${name}' (have: ${this.lora.keys().join(', ') || 'none'})`);
    return a;
  }
  /** One adapter, several (their updates add up) or none. */
  setAdapter(name: string | readonly string[] | null): void {
    const names = name === null ? [] : typeof name === 'string' ? [name] : [...new Set(name)];
    for (const n of names) this.adapter(n);
    if (this.mergedAdapter !== null && !(names.length === 1 && names[0] === this.mergedAdapter)) {
      throw new Error(`unmerge adapter '${this.mergedAdapter}' before switching adapters`);
    }
    this.activeAdapters = names;
  }

  /** The active adapter's A and B (Raschka's `layer.lora.A`). */
  get A(): Tensor { return this.adapter().A; }
  get B(): Tensor { return this.adapter().B; }

  forward(x: Tensor): Tensor {
    const l = this.linear;
    const active = this.activeAdapters;
    if (active.length === 0 || (active.length === 1 && this.mergedAdapter === active[0])) return l.forward(x);
    const a = this.adapter(active[0]);
    // One native call: linear + scaling·((x A) B), the sum accumulated in place.
    let out = wrap(N.loraLinear(x._h, l.weight._h, l.bias ? l.bias._h : -1, a.A._h, a.B._h, a.scaling, a.dropoutP, a.training));
    if (a.bias) out = replace(out, out.add(a.bias, a.scaling)); // PEFT's lora_bias: + scaling · b
    for (const other of active.slice(1)) {
      const update = tidy(() => this.adapter(other).forward(x));
      out = replace(out, out.add(update));
      update.dispose();
    }
    return out;
  }

  /** The dense update scaling · (A B)ᵀ, shaped like linear.weight [out, in]. */
  deltaWeight(name = this.activeAdapter ?? DEFAULT_ADAPTER): Tensor {
    const a = this.adapter(name);
    // tidy: the product and its transposed view are freed at once, not left to the garbage collector
    return noGrad(() => tidy(() => a.A.matmul(a.B).t().mul(a.scaling)));
  }

  /** Adds adapter `name`'s update into the base weights (and its lora_bias into the base bias) for good. */
  addDeltaToBase(name: string): void {
    const d = this.deltaWeight(name);
    noGrad(() => this.linear.weight.add_(d));
    d.dispose();
    const a = this.adapter(name);
    if (a.bias) noGrad(() => this.linear.bias!.add_(a.bias!, a.scaling));
  }

  /** W += scaling · (A B)ᵀ: inference then costs one plain Linear. */
  merge(name = this.activeAdapter ?? DEFAULT_ADAPTER): void {
    if (this.mergedAdapter === name) return;
    if (this.mergedAdapter !== null) throw new Error(`adapter '${this.mergedAdapter}' is already merged`);
    this.addDeltaToBase(name);
    this.mergedAdapter = name;
    this.activeAdapter = name;
  }
  /** The exact inverse of merge: W -= scaling · (A B)ᵀ. */
  unmerge(): void {
    if (this.mergedAdapter === null) return;
    const d = this.deltaWeight(this.mergedAdapter);
    noGrad(() => this.linear.weight.sub_(d));
    d.dispose();
    const a = this.adapter(this.mergedAdapter);
    if (a.bias) noGrad(() => this.linear.bias!.add_(a.bias!, -a.scaling));
    this.mergedAdapter = null;
  }

  extraRepr(): string {
    return `active=${this.activeAdapters.join('+') || 'none'}${this.mergedAdapter ? `, merged=${this.mergedAdapter}` : ''}`;
  }
}
