export { loadTextDataset } from './load-dataset';
export type { DatasetOptions } from './load-dataset';
export { finetune, prepareModel, loraTargets } from './finetune';
export type { Method, LoraSwitches, FinetuneOptions, FinetuneResult } from './finetune';
