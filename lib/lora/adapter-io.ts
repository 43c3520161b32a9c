// LoRA adapters on disk in PEFT's format: adapter_config.json + adapter_model.safetensors (or .bin), loadable by
// Python PEFT. Saving, loading, the config and the weights file each live in their own module; this one gathers them.
export { saveAdapter, toPeftAlpha } from './adapter-save';
export type { SaveAdapterOptions } from './adapter-save';
export { loadAdapter, readAdapterLabels, adapterSavedModules, savedParameterShapes } from './adapter-load';
export type { LoadAdapterOptions } from './adapter-load';
export { readAdapterConfig, validateLoraConfig, ADAPTER_CONFIG } from './peft-config';
export type { PeftLoraConfig, PeftBias } from './peft-config';
export { ADAPTER_WEIGHTS, ADAPTER_WEIGHTS_BIN } from './adapter-files';
