// The Trainer's extension points, after transformers' TrainerCallback / TrainerControl: the loop calls each callback's
// hooks in order at fixed moments, and callbacks steer it only through `control` (stop, save, evaluate, log).
import type { Module } from '../../nn/module';
import type { AdamW } from '../../optim/adam';
import type { MetricRecord } from '../metrics-log';
import type { TrainerState } from '../state';
import type { EvalResult, TrainResult } from '../trainer';

/** What the callbacks ask of the loop; reset after it acts on each flag. */
export interface TrainerControl {
  /** End training after this optimizer step (the epoch's evaluation, the test and onTrainEnd still run). */
  shouldTrainingStop: boolean;
  /** Write the resumable checkpoint now (with an outputDir, on rank 0). */
  shouldSave: boolean;
  /** Evaluate on the validation set now (after a step; the best epoch is still decided at epoch ends). */
  shouldEvaluate: boolean;
  /** Make a train metrics record of the steps since the last one. */
  shouldLog: boolean;
}

export interface CallbackContext {
  readonly model: Module;
  readonly optimizer: AdamW;
  /** Epoch (finished), global step, best metric and epoch: what the checkpoint holds. */
  readonly state: TrainerState;
  readonly control: TrainerControl;
  /** The folder for files (metrics, plot, checkpoint, best weights), when the run has one. */
  readonly outputDir?: string;
  readonly epochs: number;
  /** Rank 0 (or a run without DDP): the one process that writes files, logs and draws progress. */
  readonly isMainProcess: boolean;
  readonly rank: number;
  readonly worldSize: number;
  /** The run's log (silent on ranks other than 0). */
  log(line: string): void;
  /** Seconds since train() began. */
  elapsed(): number;
}

export interface EpochInfo {
  epoch: number;
  batches: number;
}
export interface TrainBatchInfo extends EpochInfo {
  /** Batches of this epoch done so far (1-based). */
  batch: number;
  /** Running means over the epoch; accuracy is absent when the loss gives no predictions. */
  loss: number;
  accuracy?: number;
  tokensPerSec: number;
}
export type EpochSummary = TrainResult['epochs'][number];
export interface EvaluateInfo {
  split: 'validation';
  result: EvalResult;
  epoch: number;
  isBest: boolean;
}

/** Every hook is optional and may return a promise (the loop waits for it). */
export interface TrainerCallback {
  /** After resuming (resumed: the checkpoint's state), before the first batch. */
  onTrainBegin?(ctx: CallbackContext, info: { resumed: TrainerState | null }): unknown;
  onEpochBegin?(ctx: CallbackContext, info: EpochInfo): unknown;
  /** After every batch (micro-batches included), when its loss is known. */
  onBatchEnd?(ctx: CallbackContext, info: TrainBatchInfo): unknown;
  /** After every optimizer step: the moment to set control flags. */
  onStepEnd?(ctx: CallbackContext, info: TrainBatchInfo): unknown;
  /** Every metrics record (train windows, epoch summaries, validation, test) as it is made. */
  onLog?(ctx: CallbackContext, record: MetricRecord): unknown;
  onEvaluate?(ctx: CallbackContext, info: EvaluateInfo): unknown;
  /** A checkpoint is being written: `saved` is the trainer state going into it; add what must survive a resume. */
  onSave?(ctx: CallbackContext, saved: TrainerState, info: { unsavedRecords: number }): unknown;
  /** After the epoch's evaluation; control.shouldSave is set (each epoch is checkpointed unless a callback clears it). */
  onEpochEnd?(ctx: CallbackContext, info: EpochSummary): unknown;
  /** The loop is over (not stopped by an error): before the test evaluation. */
  onTrainEnd?(ctx: CallbackContext): unknown;
  /** The test set's result, after its metrics record. */
  onPredict?(ctx: CallbackContext, result: EvalResult): unknown;
  /** Training ends with an error or an abort: release what is held (the error is rethrown afterwards). */
  onTrainError?(ctx: CallbackContext, error: unknown): unknown;
}

type Hook = Exclude<keyof TrainerCallback, never>;

/** Calls a hook on every callback in order, waiting for each. */
export async function callHook<H extends Hook>(
  callbacks: readonly TrainerCallback[],
  hook: H,
  ...args: Parameters<NonNullable<TrainerCallback[H]>>
): Promise<void> {
  for (const cb of callbacks) {
    const fn = cb[hook] as ((...a: unknown[]) => unknown) | undefined;
    if (fn) await fn.apply(cb, args);
  }
}

export function freshControl(): TrainerControl {
  return { shouldTrainingStop: false, shouldSave: false, shouldEvaluate: false, shouldLog: false };
}
