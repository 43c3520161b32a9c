// torch-lora: the package root, shaped like `import torch`.
export { Tensor, where } from './tensor';
export type { Shape, Scalar, NestedArray } from './tensor';
export type { DType } from './dtype';
export {
  tensor,
  fromBuffer,
  zeros,
  ones,
  empty,
  full,
  rand,
  randn,
  randint,
  arange,
  linspace,
  eye,
  zerosLike,
  onesLike,
  emptyLike,
  fullLike,
  randLike,
  randnLike,
  manualSeed,
  cat,
  stack,
} from './creation';
export type { TensorOptions } from './creation';
export { tidy, keep, dispose, memory } from './scope';
export type { MemoryInfo } from './scope';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled, autocast } from './autograd';
export { cuda, backend } from './cuda';
export { cpu } from './cpu';
export type { CpuTuningInfo, CpuTuningOptions } from './cpu';
export * as F from './functional';
export * as nn from './nn';
export * as optim from './optim';
export * from './lora';
export * from './models/distilbert';
export type { FromPretrainedOptions, LoadingInfo } from './models/pretrained';
export * as io from './io';
export * from './train';
export * from './tokenizer';
export * as data from './data';
export * as distributed from './distributed';
export * from './recipes';
export { resolveModelPath } from './io/hub';
export * from './serving';
export { encodeBatchToTensors } from './tokenizer/to-tensors';
export type { TensorEncoding } from './tokenizer/to-tensors';
