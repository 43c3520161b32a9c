export { Module } from './module';
export type { StateDict, LoadResult, ForwardHook, ForwardPreHook, RemovableHandle } from './module';
export { Linear, Embedding, LayerNorm, Dropout, ReLU, GELU, Tanh, Sigmoid, SiLU, Identity } from './layers';
export { Sequential, ModuleList, ModuleDict } from './containers';
export * as init from './init';
export * as utils from './utils';
export { clipGradNorm_ } from './utils';
export * as functional from '../functional';
