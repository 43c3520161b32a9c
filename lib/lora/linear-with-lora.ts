// LinearWithLoRA: a frozen Linear plus one or more named LoRA adapters, of which one (or none) is active.
import type { Tensor } from '../tensor';
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import { Module } from '../nn/module';
import type { Linear } from '../nn/layers';
import { ModuleDict } from '../nn/containers';
import type { LoraOptions } from './lora-layer';
import { LoRALayer } from './lora-layer';
import * as F from '../functional';

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
  /** The row factor m/n a merged DoRA adapter multiplied the weight by. */
  private doraFactor: Tensor | null = null;

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
  get activeAdapter(): string | null {
    return this.activeAdapters[0] ?? null;
  }
  set activeAdapter(name: string | null) {
    this.activeAdapters = name === null ? [] : [name];
  }

  get inFeatures(): number {
    return this.linear.inFeatures;
  }
  get outFeatures(): number {
    return this.linear.outFeatures;
  }

  addAdapter(name: string, opts: LoraOptions): LoRALayer {
    if (this.lora.has(name)) throw new Error(`adapter '${name}' already exists`);
    const w = this.linear.weight;
    if (opts.bias && !this.linear.bias)
      throw new Error(`adapter '${name}': lora_bias needs a base layer with a bias (PEFT could not merge it either)`);
    // A and B in the base layer's dtype and device (as PEFT creates them), and in the model's mode: a layer added
    // to a model in eval mode must not run dropout.
    const layer = new LoRALayer(this.linear.inFeatures, this.linear.outFeatures, {
      ...opts,
      device: w.device,
      dtype: w.dtype,
    });
    layer.train(this.training);
    this.lora.set(name, layer);
    this.initDoraMagnitude(layer);
    return layer;
  }

  /** DoRA's starting magnitude: m = ‖W + s·(A B)ᵀ‖ row-wise (PEFT recomputes it after initialising A and B). */
  initDoraMagnitude(layer: LoRALayer): void {
    if (layer.magnitude)
      noGrad(() =>
        tidy(() => {
          layer.magnitude!.copy_(this.doraNorm(layer));
        }),
      );
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
  get A(): Tensor {
    return this.adapter().A;
  }
  get B(): Tensor {
    return this.adapter().B;
  }

  forward(x: Tensor): Tensor {
    const l = this.linear;
    const active = this.activeAdapters;
    if (active.length === 0 || (active.length === 1 && this.mergedAdapter === active[0])) return l.call(x);
    const a = this.adapter(active[0]);
    let out: Tensor;
    let rest = active;
    if (a.magnitude) {
      out = l.call(x);
    } else {
      out = a.addedTo(x, l); // base + update in one native call
      rest = active.slice(1);
    }
    for (const name of rest) {
      const other = this.adapter(name);
      const update = other.magnitude ? tidy(() => this.doraUpdate(x, other)) : other.call(x);
      out = replace(out, out.add(update));
      update.dispose();
    }
    return out;
  }

  /** ‖W + s·(A B)ᵀ‖ per output row, without gradient (DoRA treats it as a constant, section 4.3 of the paper). */
  private doraNorm(a: LoRALayer): Tensor {
    return noGrad(() => tidy(() => this.linear.weight.add(a.A.matmul(a.B).t().mul(a.scaling)).norm(2, 1)));
  }

  /**
   * What a DoRA adapter adds to the base output (W x + b): (m/n − 1)·W x' + (m/n)·s·(x' A B), x' = dropout(x),
   * so that the sum is (m/n)·(W + s·ΔW) x + b without dropout, as PEFT computes it.
   */
  private doraUpdate(x: Tensor, a: LoRALayer): Tensor {
    const scale = a.magnitude!.div(this.doraNorm(a));
    const input = a.training && a.dropoutP > 0 ? F.dropout(x, a.dropoutP, true) : x;
    const base = F.linear(input, this.linear.weight);
    return base.mul(scale.sub(1)).add(input.matmul(a.A).matmul(a.B).mul(a.scaling).mul(scale));
  }

  /** The dense update scaling · (A B)ᵀ, shaped like linear.weight [out, in]. */
  deltaWeight(name = this.activeAdapter ?? DEFAULT_ADAPTER): Tensor {
    const a = this.adapter(name);
    // tidy: the product and its transposed view are freed at once, not left to the garbage collector
    return noGrad(() => tidy(() => a.A.matmul(a.B).t().mul(a.scaling)));
  }

  /**
   * Adds adapter `name`'s update into the base weights (and its lora_bias into the base bias) for good; for DoRA,
   * W ← (m/n)·(W + s·ΔW) row-wise. Returns the row factor m/n of a DoRA adapter (what unmerge divides by).
   */
  addDeltaToBase(name: string): Tensor | null {
    const a = this.adapter(name);
    const d = this.deltaWeight(name);
    let factor: Tensor | null = null;
    noGrad(() => {
      if (a.magnitude) {
        factor = tidy(() => a.magnitude!.div(this.doraNorm(a)));
        tidy(() => {
          this.linear.weight.add_(d).mul_(factor!.unsqueeze(1));
        });
      } else {
        this.linear.weight.add_(d);
      }
    });
    d.dispose();
    if (a.bias) noGrad(() => this.linear.bias!.add_(a.bias!, a.scaling));
    return factor;
  }

  /** W += scaling · (A B)ᵀ: inference then costs one plain Linear. */
  merge(name = this.activeAdapter ?? DEFAULT_ADAPTER): void {
    if (this.mergedAdapter === name) return;
    if (this.mergedAdapter !== null) throw new Error(`adapter '${this.mergedAdapter}' is already merged`);
    this.doraFactor = this.addDeltaToBase(name);
    this.mergedAdapter = name;
    this.activeAdapter = name;
  }
  /** The exact inverse of merge: W -= scaling · (A B)ᵀ. */
  unmerge(): void {
    if (this.mergedAdapter === null) return;
    const d = this.deltaWeight(this.mergedAdapter);
    if (this.doraFactor) {
      noGrad(() =>
        tidy(() => {
          this.linear.weight.div_(this.doraFactor!.unsqueeze(1));
        }),
      );
      this.doraFactor.dispose();
      this.doraFactor = null;
    }
    noGrad(() => this.linear.weight.sub_(d));
    d.dispose();
    const a = this.adapter(this.mergedAdapter);
    if (a.bias) noGrad(() => this.linear.bias!.add_(a.bias!, -a.scaling));
    this.mergedAdapter = null;
  }

  saveBlocker(): string {
    return 'still has LoRA adapters; call mergeAndUnload(model) first, or saveAdapter() to save the adapter alone';
  }

  extraRepr(): string {
    return `active=${this.activeAdapters.join('+') || 'none'}${this.mergedAdapter ? `, merged=${this.mergedAdapter}` : ''}`;
  }
}
