export { loadTextDataset, datasetName } from './load-dataset';
export type { DatasetOptions } from './load-dataset';
export { finetune, prepareModel, loraTargets } from './finetune';
export type { Method, LoraSwitches, FinetuneOptions, FinetuneResult } from './finetune';
export { runFinetuneJob } from './finetune-job';
export type { FinetuneJob, FinetuneJobResult, FinetuneJobHooks, InlineDataset } from './finetune-job';
export { finetuneInWorker } from './finetune-in-worker';
export type { FinetuneInWorkerOptions } from './finetune-in-worker';
export { LORA_DEFAULTS } from './defaults';
