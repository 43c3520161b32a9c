// replaceLinearWithLora: swaps every chosen Linear for a LinearWithLoRA, recursively (Raschka's replace_linear_with_lora).
import type { Module } from '../nn/module';
import { Linear } from '../nn/layers';
import { LinearWithLoRA, DEFAULT_ADAPTER } from './linear-with-lora';
import type { LoRALayer, LoraOptions } from './lora-layer';
import type { TargetSpec } from './targets';
import { matchesTarget } from './targets';

export interface ReplaceOptions extends LoraOptions {
  /** Modules to adapt; all Linear layers when omitted. */
  targets?: TargetSpec;
  /** Modules never to adapt, matched the same way. */
  exclude?: TargetSpec;
  /** Name of the adapter to create; an existing LinearWithLoRA gets it as an extra adapter. */
  adapterName?: string;
}

/** Returns the dotted names of the modules that now carry the adapter. Applying it again never wraps a wrapper. */
export function replaceLinearWithLora(model: Module, opts: ReplaceOptions): string[] {
  const adapterName = opts.adapterName ?? DEFAULT_ADAPTER;
  const { targets, exclude, adapterName: _a, ...lora } = opts;
  const replaced: string[] = [];
  let matched = 0;
  visit(model, '');
  if (matched === 0 && targets !== undefined) {
    throw new Error(`replaceLinearWithLora: no Linear module matched the targets ${describe(targets)}`);
  }
  return replaced;

  function visit(parent: Module, prefix: string): void {
    for (const [childName, child] of [...parent.namedChildren()]) {
      const name = prefix ? `${prefix}.${childName}` : childName;
      const chosen =
        (targets === undefined || matchesTarget(targets, name, child)) &&
        !(exclude && matchesTarget(exclude, name, child));
      if (chosen && (child instanceof Linear || child instanceof LinearWithLoRA)) matched++;
      if (child instanceof LinearWithLoRA) {
        if (chosen && !child.lora.has(adapterName)) {
          child.addAdapter(adapterName, lora);
          replaced.push(name);
        }
      } else if (child instanceof Linear) {
        if (chosen) {
          parent.setChild(childName, new LinearWithLoRA(child, lora, undefined, adapterName));
          replaced.push(name);
        }
      } else {
        visit(child, name);
      }
    }
  }
}

/** Every LinearWithLoRA in the model with its dotted name. */
export function loraLayers(model: Module): [string, LinearWithLoRA][] {
  return [...model.namedModules()].filter((e): e is [string, LinearWithLoRA] => e[1] instanceof LinearWithLoRA);
}

function describe(t: TargetSpec): string {
  return Array.isArray(t) ? `[${t.join(', ')}]` : String(t);
}

/** Puts adapter `adapterName` on the Linear (or LinearWithLoRA) named `name`, wrapping it if needed; returns the new LoRALayer. */
export function addLoraAt(model: Module, name: string, adapterName: string, opts: LoraOptions): LoRALayer {
  const m = model.getSubmodule(name);
  if (m instanceof LinearWithLoRA) return m.addAdapter(adapterName, opts);
  if (!(m instanceof Linear)) throw new Error(`'${name}' is not a Linear layer`);
  const wrapper = new LinearWithLoRA(m, opts, undefined, adapterName);
  const dot = name.lastIndexOf('.');
  (dot < 0 ? model : model.getSubmodule(name.slice(0, dot))).setChild(name.slice(dot + 1), wrapper);
  return wrapper.adapter(adapterName);
}
