// The training loop: length-bucketed batches, AdamW (no decay for biases and LayerNorm weights) with warm-up and decay,
// gradient accumulation and clipping, a pluggable loss and collator, evaluation each epoch and resumable checkpoints.
// Everything else (progress bar, metrics log, plot, best weights, early stopping, when to log/save/stop) is a
// TrainerCallback (./callbacks), as in transformers; users add their own with `callbacks`.
import * as path from 'node:path';
import type { Tensor } from '../tensor';
import { tidy } from '../scope';
import { noGrad } from '../autograd';
import * as F from '../functional';
import { clipGradNorm_ } from '../nn/utils';
import { AdamW } from '../optim/adam';
import { LambdaLR, cosineScheduleWithWarmup, linearScheduleWithWarmup } from '../optim/schedulers';
import { lengthBucketedBatches } from '../data/batching';
import type { TextExample } from '../data/dataset';
import type { MetricInput, MetricRecord } from './metrics-log';
import { macroF1 } from './classification-metrics';
import type { Batch, Collator, EncodedExamples, TokenizerLike } from './encode';
import { collate, encodeExamples } from './encode';
import { ampFor, drain, drainSync, evaluationSteps } from './evaluate';
import type { EvalResult, EvaluationPlan, SequenceClassifier } from './evaluate';
import type { TrainerState } from './state';
import { hasTrainingCheckpoint, loadTrainingCheckpoint, saveTrainingCheckpoint } from './state';
import { weightDecayGroups } from './param-groups';
import { TRAINER_DEFAULTS, withDefaults } from './defaults';
import type { TrainBatchInfo, CallbackContext, TrainerCallback, TrainerControl } from './callbacks';
import {
  BestWeightsCallback,
  callHook,
  DefaultFlowCallback,
  EarlyStoppingCallback,
  freshControl,
  MetricsLogCallback,
  PlotCallback,
  PrinterCallback,
  ProgressCallback,
} from './callbacks';
import type { DistributedDataParallelOptions } from '../distributed/ddp';
import { DistributedDataParallel } from '../distributed/ddp';
import { placement, shardIndices, shardPadded, sumOverRanks } from '../distributed/sharding';

export type { SequenceClassifier, EvalResult } from './evaluate';

export interface TrainerOptions {
  model: SequenceClassifier;
  tokenizer: TokenizerLike;
  train: readonly TextExample[];
  validation?: readonly TextExample[];
  test?: readonly TextExample[];
  epochs?: number;
  batchSize?: number;
  evalBatchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Fraction of all optimizer steps spent warming up. */
  warmupRatio?: number;
  schedule?: 'linear' | 'cosine' | 'constant';
  gradientAccumulation?: number;
  maxGradNorm?: number | null;
  maxLength?: number;
  seed?: number;
  device?: string;
  /** bf16 autocast; meant for CUDA (on CPU it is allowed but rarely faster). */
  mixedPrecision?: 'bf16' | null;
  /** metrics.jsonl, metrics.svg and checkpoint/ go here. */
  outputDir?: string;
  /** Continue from outputDir/checkpoint when it exists (also from the middle of an epoch). */
  resume?: boolean;
  /** Also checkpoint every this many optimizer steps within an epoch (with an outputDir); stopping always does. */
  saveEvery?: number;
  /** Put the best validation weights back before the test evaluation (default true). */
  restoreBest?: boolean;
  /** Stop after this many epochs without a better validation accuracy (transformers' EarlyStoppingCallback). */
  earlyStoppingPatience?: number;
  /** Stop after this many optimizer steps / seconds (the current epoch ends early; evaluation still runs). */
  maxSteps?: number;
  timeBudgetSec?: number;
  logEvery?: number;
  progress?: boolean;
  log?: (line: string) => void;
  /** Every metrics record as it is made (also without an outputDir). */
  onMetrics?: (record: MetricRecord) => void;
  /**
   * Stops training after the current optimizer step: train() rejects with the signal's reason (an AbortError by
   * default) and the model keeps the weights it has. With an outputDir it first checkpoints that step, so `resume`
   * continues from it.
   */
  signal?: AbortSignal;
  /**
   * Data-parallel training when a process group with more than one rank is initialized (the default then): the
   * model is wrapped in DistributedDataParallel, each rank takes every worldSize-th batch (batchSize is per rank),
   * evaluation is split over ranks and its metrics summed, and only rank 0 writes files, logs and the progress bar.
   * false trains this process alone even inside a group.
   */
  distributed?: boolean | DistributedDataParallelOptions;
  /** More callbacks, called after the built-in ones (progress, metrics log, plot, best weights, early stopping). */
  callbacks?: TrainerCallback[];
  /**
   * The training loss of one batch (default: cross-entropy of the classifier's logits). Run the model's forward inside
   * `amp` to get bf16 autocast when mixedPrecision asks for it. Return the logits to have accuracy counted.
   */
  computeLoss?: ComputeLoss;
  /** Batches from example indices (default `collate`: padded ids, attention mask and class labels). */
  collator?: Collator;
}

export type ComputeLoss = (
  model: SequenceClassifier,
  batch: Batch,
  amp: <T>(forward: () => T) => T,
) => { loss: Tensor; logits?: Tensor };

/** Cross-entropy of the classifier's logits, computed in fp32 also under bf16 autocast. */
export const classificationLoss: ComputeLoss = (model, batch, amp) => {
  const logits = amp(() => model.call(batch.inputIds, batch.attentionMask).logits);
  return { loss: F.crossEntropy(logits.float(), batch.labels), logits };
};

export interface TrainResult {
  epochs: { epoch: number; trainLoss: number; trainAccuracy: number; validation?: EvalResult; seconds: number }[];
  bestEpoch: number | null;
  bestValidationAccuracy: number | null;
  test?: EvalResult;
  steps: number;
  seconds: number;
  tokensPerSec: number;
}

export class Trainer {
  readonly opts: typeof TRAINER_DEFAULTS & TrainerOptions;
  readonly optimizer: AdamW;
  /** The built-in callbacks this run uses, then the caller's. */
  readonly callbacks: TrainerCallback[];
  private readonly data: { train: EncodedExamples; validation?: EncodedExamples; test?: EncodedExamples };
  private scheduler!: LambdaLR;
  private readonly log: (line: string) => void;
  /** This process's place in a data-parallel run (rank 0 of 1 otherwise), fixed at construction. */
  private readonly rank: number;
  private readonly worldSize: number;
  private ddp: DistributedDataParallel | null = null;

  constructor(options: TrainerOptions) {
    this.opts = withDefaults(TRAINER_DEFAULTS, options);
    const { rank, worldSize } = options.distributed === false ? { rank: 0, worldSize: 1 } : placement();
    this.rank = rank;
    this.worldSize = worldSize;
    // Under DDP only rank 0 speaks and writes (the others hold the same numbers).
    this.log = rank > 0 ? () => undefined : (options.log ?? ((l) => console.log(l)));
    const groups = weightDecayGroups(options.model, this.opts.weightDecay);
    if (groups[0].params.length + groups[1].params.length === 0)
      throw new Error('Trainer: the model has no trainable parameters (did you freeze everything?)');
    this.optimizer = new AdamW(groups, { lr: this.opts.lr });
    const enc = (ex?: readonly TextExample[]) =>
      ex && ex.length ? encodeExamples(options.tokenizer, ex, this.opts.maxLength) : undefined;
    this.data = { train: enc(options.train)!, validation: enc(options.validation), test: enc(options.test) };
    if (!this.data.train) throw new Error('Trainer: the training set is empty');
    this.callbacks = [...this.builtInCallbacks(), ...(options.callbacks ?? [])];
  }

  /** Flow, then what only rank 0 does (progress, log lines, metrics file, plot), best weights, early stopping. */
  private builtInCallbacks(): TrainerCallback[] {
    const o = this.opts;
    const main = this.rank === 0;
    const list: TrainerCallback[] = [
      new DefaultFlowCallback({
        logEvery: o.logEvery,
        saveEvery: o.saveEvery,
        maxSteps: o.maxSteps,
        timeBudgetSec: o.timeBudgetSec,
      }),
    ];
    if (main && o.progress !== false) list.push(new ProgressCallback());
    list.push(new PrinterCallback());
    if (o.outputDir && main) {
      const metrics = path.join(o.outputDir, 'metrics.jsonl');
      list.push(new MetricsLogCallback(metrics), new PlotCallback(metrics, path.join(o.outputDir, 'metrics.svg')));
    }
    list.push(
      new BestWeightsCallback({
        restore: o.restoreBest ?? true,
        dir: o.outputDir ? path.join(o.outputDir, 'best') : undefined,
      }),
    );
    if (o.earlyStoppingPatience !== undefined) list.push(new EarlyStoppingCallback(o.earlyStoppingPatience));
    if (o.onMetrics) {
      const onMetrics = o.onMetrics;
      list.push({ onLog: (_ctx, record) => onMetrics(record) });
    }
    return list;
  }

  private get stepsPerEpoch(): number {
    const batches = Math.ceil(this.data.train.ids.length / this.opts.batchSize);
    return Math.ceil(Math.ceil(batches / this.worldSize) / this.opts.gradientAccumulation);
  }

  /** Trains, evaluating after each epoch; yields to the event loop between steps and evaluation batches. */
  async train(): Promise<TrainResult> {
    try {
      if (this.worldSize > 1 && !this.ddp) {
        const opts = typeof this.opts.distributed === 'object' ? this.opts.distributed : {};
        this.ddp = await DistributedDataParallel.create(this.opts.model, opts);
      }
      return await this.run();
    } finally {
      this.ddp?.dispose();
      this.ddp = null;
    }
  }

  private async run(): Promise<TrainResult> {
    const o = this.opts;
    const model = o.model;
    const total = o.maxSteps ?? this.stepsPerEpoch * o.epochs;
    const warmup = Math.round(total * o.warmupRatio);
    this.scheduler =
      o.schedule === 'cosine'
        ? cosineScheduleWithWarmup(this.optimizer, warmup, total)
        : o.schedule === 'linear'
          ? linearScheduleWithWarmup(this.optimizer, warmup, total)
          : new LambdaLR(this.optimizer, () => 1);

    o.signal?.throwIfAborted();
    let state: TrainerState = { epoch: 0, globalStep: 0, bestMetric: null, bestEpoch: null };
    const checkpointDir = o.outputDir ? path.join(o.outputDir, 'checkpoint') : null;
    // Every rank resumes from the same files; only rank 0 writes them.
    const writesFiles = this.rank === 0;
    let resumed: TrainerState | null = null;
    if (o.resume && checkpointDir && hasTrainingCheckpoint(checkpointDir)) {
      state = loadTrainingCheckpoint(checkpointDir, model, this.optimizer);
      const savedWorld = typeof state.worldSize === 'number' ? state.worldSize : 1;
      if (savedWorld !== this.worldSize) {
        throw new Error(
          `resume: the checkpoint in ${checkpointDir} was written by a run of ${savedWorld} process(es); resume it with ${savedWorld}, not ${this.worldSize}`,
        );
      }
      if (state.scheduler) this.scheduler.loadStateDict(state.scheduler);
      resumed = { ...state };
      this.log(
        `resumed from ${checkpointDir} ${state.inEpoch ? `in epoch ${state.epoch + 1} after ${state.inEpoch.batches} batches` : `after epoch ${state.epoch}`} (step ${state.globalStep})`,
      );
    }

    const started = Date.now();
    const control: TrainerControl = freshControl();
    const ctx: CallbackContext = {
      model,
      optimizer: this.optimizer,
      state,
      control,
      outputDir: o.outputDir,
      epochs: o.epochs,
      isMainProcess: writesFiles,
      rank: this.rank,
      worldSize: this.worldSize,
      log: this.log,
      elapsed: () => (Date.now() - started) / 1000,
    };
    const call = <H extends keyof TrainerCallback>(
      hook: H,
      ...args: Parameters<NonNullable<TrainerCallback[H]>> extends [CallbackContext, ...infer R] ? R : never
    ) => callHook(this.callbacks, hook, ...([ctx, ...args] as unknown as Parameters<NonNullable<TrainerCallback[H]>>));
    const record = async (entry: MetricInput) =>
      call('onLog', { ...entry, time: entry.time ?? new Date().toISOString() } as MetricRecord);

    const result: TrainResult = {
      epochs: [],
      bestEpoch: state.bestEpoch,
      bestValidationAccuracy: state.bestMetric,
      steps: 0,
      seconds: 0,
      tokensPerSec: 0,
    };
    let tokensSeen = 0;
    try {
      await call('onTrainBegin', { resumed });
      for (let epoch = state.epoch + 1; epoch <= o.epochs && !control.shouldTrainingStop; epoch++) {
        const epochStart = Date.now();
        model.train();
        const allBatches = lengthBucketedBatches(
          Array.from(this.data.train.ids, (s) => s.length),
          { batchSize: o.batchSize, seed: o.seed + epoch },
        );
        const batches = shardPadded(allBatches, this.rank, this.worldSize);
        const inEpoch = state.inEpoch;
        state.inEpoch = undefined;
        if (inEpoch && inEpoch.of !== undefined && inEpoch.of !== batches.length) {
          throw new Error(
            `resume: the checkpoint stopped after ${inEpoch.batches} of ${inEpoch.of} batches in epoch ${epoch}, but this run makes ${batches.length}; resume with the same data, batchSize and seed`,
          );
        }
        await call('onEpochBegin', { epoch, batches: batches.length });
        let lossSum = inEpoch?.lossSum ?? 0,
          correct = inEpoch?.correct ?? 0,
          seen = inEpoch?.seen ?? 0,
          micro = 0;
        // Accuracy is counted when the loss gives logits (the default one always does).
        let windowLoss = 0,
          windowCount = 0,
          counted = !o.computeLoss;
        // Saved between optimizer steps, so that resuming replays the epoch's remaining batches exactly.
        // `unsavedRecords`: metrics records made after the moment saved, which the resumed run writes again.
        const checkpointHere = async (batchesDone: number, unsavedRecords = 0) => {
          if (!checkpointDir || !writesFiles) return;
          state.scheduler = this.scheduler.stateDict();
          const saved: TrainerState = {
            ...state,
            worldSize: this.worldSize,
            inEpoch: { batches: batchesDone, of: batches.length, lossSum, correct, seen },
          };
          await call('onSave', saved, { unsavedRecords });
          saveTrainingCheckpoint(checkpointDir, model, this.optimizer, saved);
        };
        this.optimizer.zeroGrad();
        for (let b = inEpoch?.batches ?? 0; b < batches.length; b++) {
          const willStep = (micro + 1) % o.gradientAccumulation === 0 || b === batches.length - 1;
          // Micro-batches before the optimizer step accumulate locally; the last one's backward averages the sum.
          const { loss, right, tokens } =
            this.ddp && !willStep ? this.ddp.noSync(() => this.trainStep(batches[b])) : this.trainStep(batches[b]);
          tokensSeen += tokens;
          lossSum += loss * batches[b].length;
          if (right !== undefined) {
            correct += right;
            counted = true;
          }
          seen += batches[b].length;
          windowLoss += loss;
          windowCount++;
          micro++;
          const info = (): TrainBatchInfo => ({
            epoch,
            batch: b + 1,
            batches: batches.length,
            loss: lossSum / seen,
            accuracy: counted ? correct / seen : undefined,
            tokensPerSec: tokensSeen / ctx.elapsed(),
          });
          const stepping = micro % o.gradientAccumulation === 0 || b === batches.length - 1;
          if (stepping) {
            if (o.maxGradNorm)
              clipGradNorm_(
                this.optimizer.paramGroups.flatMap((g) => g.params),
                o.maxGradNorm,
              );
            this.optimizer.step();
            this.optimizer.zeroGrad();
            this.scheduler.step();
            state.globalStep++;
            result.steps++;
            await call('onStepEnd', info());
            if (control.shouldLog) {
              await record({
                step: state.globalStep,
                epoch,
                split: 'train',
                loss: windowLoss / windowCount,
                lr: this.scheduler.getLastLr()[0],
                tokensPerSec: tokensSeen / ctx.elapsed(),
              });
              windowLoss = 0;
              windowCount = 0;
            }
            if (control.shouldEvaluate && this.data.validation) {
              const validation = await this.evaluateEncodedAsync(this.data.validation);
              await call('onEvaluate', { split: 'validation', result: validation, epoch, isBest: false });
              await record({
                step: state.globalStep,
                epoch,
                split: 'validation',
                loss: validation.loss,
                accuracy: validation.accuracy,
                f1: validation.macroF1,
              });
            }
            if (control.shouldSave && b < batches.length - 1) await checkpointHere(b + 1);
            Object.assign(control, freshControl(), { shouldTrainingStop: control.shouldTrainingStop });
            if (control.shouldTrainingStop) break;
          }
          await call('onBatchEnd', info());
          await new Promise((r) => setImmediate(r)); // keep the event loop (signals, timers, servers) responsive
          if (o.signal?.aborted && stepping) {
            await checkpointHere(b + 1);
            o.signal.throwIfAborted();
          }
        }
        const entry: TrainResult['epochs'][number] = {
          epoch,
          trainLoss: lossSum / Math.max(1, seen),
          trainAccuracy: counted ? correct / Math.max(1, seen) : NaN,
          seconds: (Date.now() - epochStart) / 1000,
        };
        await record({
          step: state.globalStep,
          epoch,
          split: 'train',
          loss: entry.trainLoss,
          ...(counted ? { accuracy: entry.trainAccuracy } : {}),
        });
        if (this.data.validation) {
          try {
            entry.validation = await this.evaluateEncodedAsync(this.data.validation);
          } catch (e) {
            // Resuming ends this epoch again: its summary record is written again too.
            if (o.signal?.aborted) await checkpointHere(batches.length, 1);
            throw e;
          }
          await record({
            step: state.globalStep,
            epoch,
            split: 'validation',
            loss: entry.validation.loss,
            accuracy: entry.validation.accuracy,
            f1: entry.validation.macroF1,
          });
          const isBest = state.bestMetric === null || entry.validation.accuracy > state.bestMetric;
          if (isBest) {
            state.bestMetric = entry.validation.accuracy;
            state.bestEpoch = epoch;
          }
          await call('onEvaluate', { split: 'validation', result: entry.validation, epoch, isBest });
        }
        result.epochs.push(entry);
        state.epoch = epoch;
        state.scheduler = this.scheduler.stateDict();
        control.shouldSave = true; // every epoch is checkpointed unless a callback says otherwise
        await call('onEpochEnd', entry);
        if (control.shouldSave && checkpointDir && writesFiles) {
          const saved: TrainerState = { ...state, worldSize: this.worldSize };
          await call('onSave', saved, { unsavedRecords: 0 });
          saveTrainingCheckpoint(checkpointDir, model, this.optimizer, saved);
        }
        Object.assign(control, freshControl(), { shouldTrainingStop: control.shouldTrainingStop });
      }
      result.bestEpoch = state.bestEpoch;
      result.bestValidationAccuracy = state.bestMetric;
      await call('onTrainEnd');
    } catch (e) {
      await call('onTrainError', e);
      throw e;
    }
    if (this.data.test) {
      result.test = await this.evaluateEncodedAsync(this.data.test);
      await record({
        step: state.globalStep,
        epoch: state.epoch,
        split: 'test',
        loss: result.test.loss,
        accuracy: result.test.accuracy,
        f1: result.test.macroF1,
      });
      await call('onPredict', result.test);
    }
    result.seconds = (Date.now() - started) / 1000;
    result.tokensPerSec = tokensSeen / Math.max(1e-9, result.seconds);
    return result;
  }

  /** Frees the optimizer's state (the model stays the caller's). */
  dispose(): void {
    this.optimizer.dispose();
  }

  /** One forward + backward on a batch of example indices; the caller steps the optimizer. */
  private trainStep(indices: number[]): { loss: number; right?: number; tokens: number } {
    const o = this.opts;
    return tidy(() => {
      const batch = (o.collator ?? collate)(this.data.train, indices, o.tokenizer.padTokenId, o.device);
      const { loss, logits } = (o.computeLoss ?? classificationLoss)(o.model, batch, (forward) => this.amp(forward));
      (o.gradientAccumulation > 1 ? loss.div(o.gradientAccumulation) : loss).backward();
      const right = logits ? (logits.argmax(-1).eq(batch.labels).sum().item() as number) : undefined;
      return { loss: loss.item() as number, right, tokens: batch.tokens };
    });
  }

  /** bf16 autocast around a forward when mixedPrecision asks for it. */
  private amp<T>(forward: () => T): T {
    return ampFor(this.opts.device, this.opts.mixedPrecision)(forward);
  }

  /** Loss and accuracy on examples (eval mode, no grad); the model's mode is restored afterwards. */
  evaluate(examples: readonly TextExample[]): EvalResult {
    return this.evaluateEncoded(encodeExamples(this.opts.tokenizer, examples, this.opts.maxLength));
  }

  /** The same without holding the event loop: it gets a turn between batches (and `signal` is checked there). */
  evaluateAsync(examples: readonly TextExample[]): Promise<EvalResult> {
    return this.evaluateEncodedAsync(encodeExamples(this.opts.tokenizer, examples, this.opts.maxLength));
  }

  private evaluateEncoded(data: EncodedExamples): EvalResult {
    return drainSync(evaluationSteps(this.opts.model, data, this.evaluationPlan(1)));
  }

  /** The same, giving the event loop a turn between batches; stops at once when the signal aborts. */
  private async evaluateEncodedAsync(data: EncodedExamples): Promise<EvalResult> {
    // Under DDP each rank evaluates every worldSize-th example and the sums are added up over ranks.
    const shards = this.ddp ? this.worldSize : 1;
    const result = await drain(evaluationSteps(this.opts.model, data, this.evaluationPlan(shards)), this.opts.signal);
    return this.ddp ? this.reduceEval(result) : result;
  }

  private evaluationPlan(shards: number): EvaluationPlan {
    const o = this.opts;
    return {
      padTokenId: o.tokenizer.padTokenId,
      device: o.device,
      batchSize: o.evalBatchSize ?? o.batchSize * 2,
      amp: (forward) => this.amp(forward),
      pick: shards > 1 ? (count) => shardIndices(count, this.rank, shards) : undefined,
      // Every rank's matrix must have the same size for the reduction: the head's width, also on an empty shard.
      numClasses: () => this.headWidth(),
    };
  }

  /** The eval sums of every rank added up: the same EvalResult on all of them. */
  private async reduceEval(local: EvalResult): Promise<EvalResult> {
    const k = local.confusion.length;
    const sums = await sumOverRanks([local.loss * local.examples, local.examples, ...local.confusion.flat()]);
    const examples = sums[1];
    const confusion = Array.from({ length: k }, (_, r) => sums.slice(2 + r * k, 2 + (r + 1) * k));
    const correct = confusion.reduce((a, row, c) => a + row[c], 0);
    return {
      loss: sums[0] / Math.max(1, examples),
      accuracy: correct / Math.max(1, examples),
      macroF1: macroF1(confusion),
      confusion,
      examples,
    };
  }

  private headWidth(): number {
    const o = this.opts;
    return noGrad(() =>
      tidy(() => {
        const ids = collate(this.data.train, [0], o.tokenizer.padTokenId, o.device);
        const logits = o.model.call(ids.inputIds, ids.attentionMask).logits;
        return logits.shape[logits.shape.length - 1];
      }),
    );
  }
}
