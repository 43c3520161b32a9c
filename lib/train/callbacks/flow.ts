// When to log, checkpoint and stop within an epoch: transformers' DefaultFlowCallback for logEvery, saveEvery,
// maxSteps and timeBudgetSec (the epoch-end checkpoint is requested by the loop itself).
import { sumOverRanks } from '../../distributed/sharding';
import type { TrainBatchInfo, CallbackContext, TrainerCallback } from './callback';

export interface FlowOptions {
  logEvery: number;
  saveEvery?: number;
  maxSteps?: number;
  timeBudgetSec?: number;
}

export class DefaultFlowCallback implements TrainerCallback {
  constructor(private readonly o: FlowOptions) {}

  async onStepEnd(ctx: CallbackContext, { batch, batches }: TrainBatchInfo): Promise<void> {
    const step = ctx.state.globalStep;
    if (step % this.o.logEvery === 0) ctx.control.shouldLog = true;
    // The epoch-end checkpoint follows the last batch anyway.
    if (this.o.saveEvery && step % this.o.saveEvery === 0 && batch < batches) ctx.control.shouldSave = true;
    let outOfTime = this.o.timeBudgetSec !== undefined && ctx.elapsed() > this.o.timeBudgetSec;
    // Clocks differ between ranks: they stop together when any of them is out of time.
    if (this.o.timeBudgetSec !== undefined && ctx.worldSize > 1)
      outOfTime = (await sumOverRanks([outOfTime ? 1 : 0]))[0] > 0;
    if ((this.o.maxSteps !== undefined && step >= this.o.maxSteps) || outOfTime) ctx.control.shouldTrainingStop = true;
  }
}
