// transformers' EarlyStoppingCallback: stop after `patience` epochs without a better validation accuracy. It reads the
// best epoch from the trainer state, so a resumed run counts the epochs before its checkpoint too.
import type { CallbackContext, EpochSummary, TrainerCallback } from './callback';

export class EarlyStoppingCallback implements TrainerCallback {
  constructor(private readonly patience: number) {}

  onEpochEnd(ctx: CallbackContext, { epoch }: EpochSummary): void {
    const best = ctx.state.bestEpoch;
    if (best !== null && epoch - best >= this.patience) {
      ctx.log(`stopping early: no better validation accuracy for ${epoch - best} epochs`);
      ctx.control.shouldTrainingStop = true;
    }
  }
}
