export { LoRALayer, loraScaling } from './lora-layer';
export type { LoraOptions, LoraInit, LoraScaling } from './lora-layer';
export { LinearWithLoRA, DEFAULT_ADAPTER } from './linear-with-lora';
export { replaceLinearWithLora, loraLayers } from './replace';
export type { ReplaceOptions } from './replace';
export { matchesTarget } from './targets';
export type { TargetSpec } from './targets';
export { freeze, unfreeze, markOnlyLoraAsTrainable, countParameters, printTrainableParameters } from './freeze';
export type { TrainableOptions } from './freeze';
export {
  mergeLora,
  unmergeLora,
  mergeAndUnload,
  setAdapter,
  disableAdapter,
  deleteAdapter,
  listAdapters,
  activeAdapter,
  activeAdapters,
} from './merge';
export {
  saveAdapter,
  loadAdapter,
  readAdapterConfig,
  validateLoraConfig,
  readAdapterLabels,
  toPeftAlpha,
  adapterSavedModules,
  savedParameterShapes,
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  ADAPTER_WEIGHTS_BIN,
} from './adapter-io';
export type { PeftLoraConfig, PeftBias, SaveAdapterOptions, LoadAdapterOptions } from './adapter-io';
export { SafeRegex, pyFullmatch } from './safe-regex';
export { getPeftModel } from './get-peft-model';
export type { LoraConfigFields } from './get-peft-model';
export { addWeightedAdapter } from './weighted-adapter';
export { ModulesToSaveWrapper } from './modules-to-save';
export type { CombinationType, WeightedAdapterOptions } from './weighted-adapter';
