// Merging adapters into the base weights, and model-wide adapter switching.
import type { Module } from '../nn/module';
import { LinearWithLoRA } from './linear-with-lora';
import { loraLayers } from './replace';
import { ModulesToSaveWrapper } from './modules-to-save';

/** W += scaling·(A B)ᵀ in every adapted layer, so inference costs what the base model costs. */
export function mergeLora(model: Module, adapterName?: string): void {
  for (const [, l] of loraLayers(model)) l.merge(adapterName ?? l.activeAdapter ?? undefined);
}
/** Undoes mergeLora. */
export function unmergeLora(model: Module): void {
  for (const [, l] of loraLayers(model)) l.unmerge();
}
/** Merges the active adapters (all of them, as PEFT does) and puts plain Linear layers back in place of every LinearWithLoRA. */
export function mergeAndUnload(model: Module): Module {
  for (const [name, l] of loraLayers(model)) {
    // The wrapper goes away: add the active updates for good (one already merged is in the weights).
    for (const a of l.activeAdapters) if (a !== l.mergedAdapter) l.addDeltaToBase(a)?.dispose();
    const dot = name.lastIndexOf('.');
    const parent = dot < 0 ? model : model.getSubmodule(name.slice(0, dot));
    parent.setChild(name.slice(dot + 1), l.linear);
    for (const a of l.lora.keys()) l.lora.get(a)!.dispose();
  }
  ModulesToSaveWrapper.existing(model)?.unload(); // the heads the modules hold now stay, as PEFT keeps the active copy
  return model;
}

/**
 * Makes `name` the active adapter of every adapted layer that has it (layers without it fall back to the base), or
 * several at once, whose updates add up (PEFT's set_adapter([...])).
 */
export function setAdapter(model: Module, name: string | readonly string[]): void {
  const names = typeof name === 'string' ? [name] : [...name];
  const layers = loraLayers(model);
  const heads = ModulesToSaveWrapper.existing(model);
  for (const n of names)
    if (!layers.some(([, l]) => l.lora.has(n)) && !heads?.has(n))
      throw new Error(`no layer has an adapter named '${n}'`);
  for (const [, l] of layers) l.setAdapter(names.filter((n) => l.lora.has(n)));
  // The saved modules run the first named adapter's copies (the base model's when it has none).
  heads?.use(names.find((n) => heads.has(n)) ?? null);
}
/** Runs the base model alone (its own saved modules too) until enableAdapter / setAdapter. */
export function disableAdapter(model: Module): void {
  for (const [, l] of loraLayers(model)) l.setAdapter(null);
  ModulesToSaveWrapper.existing(model)?.use(null);
}
export function deleteAdapter(model: Module, name: string): void {
  for (const [, l] of loraLayers(model)) if (l.lora.has(name)) l.deleteAdapter(name);
  ModulesToSaveWrapper.existing(model)?.remove(name);
}
export function listAdapters(model: Module): string[] {
  const names = new Set<string>();
  for (const [, l] of loraLayers(model)) l.lora.keys().forEach((k) => names.add(k));
  ModulesToSaveWrapper.existing(model)
    ?.adapters()
    .forEach((k) => names.add(k));
  return [...names];
}
/** The active adapters of the first adapted layer. */
export function activeAdapters(model: Module): string[] {
  const first = loraLayers(model)[0];
  return first ? [...first[1].activeAdapters] : [];
}
export function activeAdapter(model: Module): string | null {
  const first = loraLayers(model)[0];
  return first ? first[1].activeAdapter : null;
}
export { LinearWithLoRA };
