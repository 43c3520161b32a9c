// Serving: non-blocking classification with dynamic batching over model worker threads, many LoRA adapters per model.
export { createClassifier, Classifier } from './classifier';
export type {
  ClassifierOptions,
  ClassifyOptions,
  AddAdapterOptions,
  Classification,
  ClassifierStats,
  BatchEvent,
} from './classifier';
export { Batcher } from './batcher';
export type { BatcherOptions, BatcherStats, BatchInfo } from './batcher';
export { ServingError, isServingError } from './errors';
export type { ServingErrorCode } from './errors';
export type { LatencySummary } from './latency';
