// Which parameters train: freezing, LoRA-only training, modules to save, and parameter counts.
import type { Module } from '../nn/module';
import { LoRALayer } from './lora-layer';
import { LinearWithLoRA } from './linear-with-lora';
import type { TargetSpec } from './targets';
import { matchesTarget } from './targets';

export function freeze(module: Module): void {
  for (const p of module.parameters()) p.requiresGrad_(false);
}
export function unfreeze(module: Module): void {
  for (const p of module.parameters()) p.requiresGrad_(true);
}

export interface TrainableOptions {
  /** loralib's choices: no bias trains, every bias trains, or only the biases of adapted Linear layers. */
  bias?: 'none' | 'all' | 'lora_only';
  /** Modules that train fully besides the adapters (e.g. ['pre_classifier', 'classifier']). */
  modulesToSave?: TargetSpec;
  /** Train only this adapter's A and B (default: every adapter). */
  adapterName?: string;
}

/** Freezes everything, then unfreezes LoRA's A and B, the chosen biases and the modules to save. */
export function markOnlyLoraAsTrainable(model: Module, opts: TrainableOptions = {}): void {
  freeze(model);
  const bias = opts.bias ?? 'none';
  for (const [name, m] of model.namedModules()) {
    if (m instanceof LinearWithLoRA) {
      for (const [adapter, layer] of m.lora.entries())
        if (!opts.adapterName || adapter === opts.adapterName) unfreeze(layer);
      if (bias === 'lora_only' && m.linear.bias) m.linear.bias.requiresGrad_(true);
    } else if (m instanceof LoRALayer && !opts.adapterName) {
      unfreeze(m);
    }
    if (opts.modulesToSave && name && matchesTarget(opts.modulesToSave, name, m)) unfreeze(m);
  }
  if (bias === 'all')
    for (const [n, p] of model.namedParameters()) if (n === 'bias' || n.endsWith('.bias')) p.requiresGrad_(true);
}

export function countParameters(model: Module): { trainable: number; total: number } {
  let trainable = 0;
  let total = 0;
  for (const p of model.parameters()) {
    const n = p.numel();
    total += n;
    if (p.requiresGrad) trainable += n;
  }
  return { trainable, total };
}

/** The line PEFT's print_trainable_parameters prints; also returned. */
export function printTrainableParameters(model: Module, log: (s: string) => void = console.log): string {
  const { trainable, total } = countParameters(model);
  const line = `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${total.toLocaleString('en-US')} || trainable%: ${((100 * trainable) / Math.max(1, total)).toFixed(4)}`;
  log(line);
  return line;
}

/** Sets requiresGrad on one adapter's A, B (and bias) in the named layers and on the named saved modules. */
export function setAdapterTrainable(
  model: Module,
  adapterName: string,
  layers: string[],
  saved: string[],
  trainable: boolean,
): void {
  for (const name of layers) unfreezeTo((model.getSubmodule(name) as LinearWithLoRA).adapter(adapterName), trainable);
  for (const name of saved) unfreezeTo(model.getSubmodule(name), trainable);
}

function unfreezeTo(m: Module, trainable: boolean): void {
  for (const p of m.parameters()) p.requiresGrad_(trainable);
}

/**
 * PEFT's trainable set (get_peft_model, from_pretrained with is_trainable): everything frozen except one adapter, its
 * modules to save and the biases PEFT's `bias` names ('all': every parameter with 'bias' in its name; 'lora_only':
 * the adapted layers' own biases).
 */
export function markPeftTrainable(
  model: Module,
  opts: { adapterName: string; layers: string[]; saved: string[]; bias: 'none' | 'all' | 'lora_only' },
): void {
  freeze(model);
  setAdapterTrainable(model, opts.adapterName, opts.layers, opts.saved, true);
  const adaptedBiases = new Set(opts.layers.map((l) => `${l}.linear.bias`));
  for (const [n, p] of model.namedParameters()) {
    if ((opts.bias === 'all' && n.includes('bias')) || (opts.bias === 'lora_only' && adaptedBiases.has(n)))
      p.requiresGrad_(true);
  }
}
