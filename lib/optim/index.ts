export { Optimizer } from './optimizer';
export type { OptimizerStateDict, ParamGroup } from './optimizer';
export { Adam, AdamW } from './adam';
export type { AdamOptions } from './adam';
export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { LambdaLR, linearScheduleWithWarmup, cosineScheduleWithWarmup } from './schedulers';
