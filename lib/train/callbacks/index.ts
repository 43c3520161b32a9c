export { callHook, freshControl } from './callback';
export type {
  TrainerCallback,
  TrainerControl,
  CallbackContext,
  EpochInfo,
  TrainBatchInfo,
  EpochSummary,
  EvaluateInfo,
} from './callback';
export { DefaultFlowCallback } from './flow';
export type { FlowOptions } from './flow';
export { MetricsLogCallback } from './metrics-log';
export { PlotCallback } from './plot';
export { ProgressCallback, PrinterCallback } from './progress';
export { EarlyStoppingCallback } from './early-stopping';
export { BestWeightsCallback } from './best-weights';
