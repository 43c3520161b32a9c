// torch.distributed for torch-lora: process groups and collectives on libtorch's c10d, DistributedDataParallel,
// and the data sampler. Launching: `torch-lora launch` (lib/distributed/launch.ts). See docs/distributed.md.
export {
  initProcessGroup,
  destroyProcessGroup,
  isInitialized,
  getRank,
  getWorldSize,
  getBackend,
  getLocalRank,
  getLocalWorldSize,
  isMainProcess,
  barrier,
  allReduce,
  broadcast,
  allGather,
  reduceScatter,
} from './process-group';
export type { Backend, ReduceOp, InitProcessGroupOptions, ProcessGroupInfo } from './process-group';
export { DistributedDataParallel } from './ddp';
export type { DistributedDataParallelOptions, GradientSyncStats } from './ddp';
export { DistributedSampler, seededPermutation } from './sampler';
export type { DistributedSamplerOptions } from './sampler';
export { launch, parseLaunchArgs, rankEnvironment, LAUNCH_USAGE } from './launch';
export { intSetting } from './env';
export type { LaunchOptions } from './launch';
export { placement, shardPadded, shardIndices, sumOverRanks } from './sharding';
