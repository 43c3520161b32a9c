// The progress bar of each epoch (rank 0), and the one-line summary the run's log gets after it.
import type { ProgressStream } from '../progress';
import { ProgressBar } from '../progress';
import type { TrainBatchInfo, CallbackContext, EpochInfo, EpochSummary, TrainerCallback } from './callback';

export class ProgressCallback implements TrainerCallback {
  private bar: ProgressBar | null = null;

  constructor(
    private readonly o: { label?: (epoch: number, epochs: number) => string; stream?: ProgressStream } = {},
  ) {}

  onEpochBegin(ctx: CallbackContext, { epoch }: EpochInfo): void {
    const label = this.o.label ? this.o.label(epoch, ctx.epochs) : `epoch ${epoch}/${ctx.epochs}`;
    this.bar = new ProgressBar({ label, stream: this.o.stream });
  }

  onBatchEnd(_ctx: CallbackContext, b: TrainBatchInfo): void {
    this.bar?.update({ step: b.batch, total: b.batches, loss: b.loss, acc: b.accuracy, tokensPerSec: b.tokensPerSec });
  }

  onEpochEnd(): void {
    this.end();
  }

  onTrainError(): void {
    this.end();
  }

  private end(): void {
    this.bar?.done();
    this.bar = null;
  }
}

/** "epoch 2: train loss … acc … | validation loss … acc … | 3.1 s" in the run's log. */
export class PrinterCallback implements TrainerCallback {
  onEpochEnd(ctx: CallbackContext, e: EpochSummary): void {
    ctx.log(
      `epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}${Number.isNaN(e.trainAccuracy) ? '' : ` acc ${(100 * e.trainAccuracy).toFixed(2)}%`}` +
        (e.validation
          ? ` | validation loss ${e.validation.loss.toFixed(4)} acc ${(100 * e.validation.accuracy).toFixed(2)}%`
          : '') +
        ` | ${e.seconds.toFixed(1)} s`,
    );
  }
}
