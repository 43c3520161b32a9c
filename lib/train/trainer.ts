// The fine-tuning loop for sequence classification: length-bucketed batches, AdamW with warm-up and decay, gradient
// accumulation and clipping, evaluation each epoch, best-weights keeping, resumable checkpoints, metrics and a plot.
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors, writeSafetensors, writeFileAtomic, writeFolderAtomic, recoverFolder, RawTensor } from '../io';
import { rawToTensor, tensorToRaw } from '../io/tensor-bridge';
import { Tensor } from '../tensor';
import { keep, tidy } from '../scope';
import { noGrad, autocast } from '../autograd';
import * as F from '../functional';
import { Module } from '../nn/module';
import { clipGradNorm_ } from '../nn/utils';
import { AdamW } from '../optim/adam';
import { LambdaLR, cosineScheduleWithWarmup, linearScheduleWithWarmup } from '../optim/schedulers';
import { lengthBucketedBatches, sequentialBatches } from '../data/batching';
import type { TextExample } from '../data/dataset';
import { MetricsLogger, MetricInput, MetricRecord } from './metrics-log';
import { plotMetricsSvg, writePlot } from './plot';
import { readMetrics } from './metrics-log';
import { ProgressBar } from './progress';
import { confusionMatrix, macroF1 } from './classification-metrics';
import { collate, encodeExamples, EncodedExamples, TokenizerLike } from './encode';
import { hasTrainingCheckpoint, loadTrainingCheckpoint, saveTrainingCheckpoint, TrainerState } from './state';
import { DistributedDataParallel, DistributedDataParallelOptions } from '../distributed/ddp';
import { placement, shardIndices, shardPadded, sumOverRanks } from '../distributed/sharding';

export interface SequenceClassifier extends Module {
  forward(inputIds: Tensor, attentionMask?: Tensor | null): { logits: Tensor };
}

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
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  /** The mean of the per-class F1 scores (scikit-learn's average='macro'). */
  macroF1: number;
  /** Counts by true class (rows) and predicted class (columns). */
  confusion: number[][];
  examples: number;
}
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
  readonly opts: Required<Pick<TrainerOptions, 'epochs' | 'batchSize' | 'lr' | 'weightDecay' | 'warmupRatio' | 'schedule' | 'gradientAccumulation' | 'maxLength' | 'seed' | 'device' | 'logEvery'>> & TrainerOptions;
  readonly optimizer: AdamW;
  private readonly data: { train: EncodedExamples; validation?: EncodedExamples; test?: EncodedExamples };
  private scheduler!: LambdaLR;
  private readonly metrics?: MetricsLogger;
  private readonly log: (line: string) => void;
  /** The trainable weights of the best validation epoch so far. */
  private best: Map<Tensor, Tensor> | null = null;
  /** This process's place in a data-parallel run (rank 0 of 1 otherwise), fixed at construction. */
  private readonly rank: number;
  private readonly worldSize: number;
  private ddp: DistributedDataParallel | null = null;

  constructor(options: TrainerOptions) {
    this.opts = {
      epochs: 3, batchSize: 16, lr: 5e-4, weightDecay: 0.01, warmupRatio: 0, schedule: 'linear', gradientAccumulation: 1,
      maxLength: 256, seed: 123, device: 'cpu', logEvery: 20, ...options,
    };
    const { rank, worldSize } = options.distributed === false ? { rank: 0, worldSize: 1 } : placement();
    this.rank = rank;
    this.worldSize = worldSize;
    // Under DDP only rank 0 speaks and writes (the others hold the same numbers).
    this.log = rank > 0 ? () => undefined : options.log ?? ((l) => console.log(l));
    const params = options.model.parameters().filter((p) => p.requiresGrad);
    if (params.length === 0) throw new Error('Trainer: the model has no trainable parameters (did you freeze everything?)');
    this.optimizer = new AdamW(params, { lr: this.opts.lr, weightDecay: this.opts.weightDecay });
    const enc = (ex?: readonly TextExample[]) => (ex && ex.length ? encodeExamples(options.tokenizer, ex, this.opts.maxLength) : undefined);
    this.data = { train: enc(options.train)!, validation: enc(options.validation), test: enc(options.test) };
    if (!this.data.train) throw new Error('Trainer: the training set is empty');
    if (options.outputDir && rank === 0) this.metrics = new MetricsLogger(path.join(options.outputDir, 'metrics.jsonl'));
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
      this.setBest(null);
      this.ddp?.dispose();
      this.ddp = null;
    }
  }

  private async run(): Promise<TrainResult> {
    const o = this.opts;
    const model = o.model;
    const total = o.maxSteps ?? this.stepsPerEpoch * o.epochs;
    const warmup = Math.round(total * o.warmupRatio);
    this.scheduler = o.schedule === 'cosine' ? cosineScheduleWithWarmup(this.optimizer, warmup, total)
      : o.schedule === 'linear' ? linearScheduleWithWarmup(this.optimizer, warmup, total)
      : new LambdaLR(this.optimizer, () => 1);

    o.signal?.throwIfAborted();
    let state: TrainerState = { epoch: 0, globalStep: 0, bestMetric: null, bestEpoch: null };
    const checkpointDir = o.outputDir ? path.join(o.outputDir, 'checkpoint') : null;
    // Every rank resumes from the same files; only rank 0 writes them.
    const writesFiles = this.rank === 0;
    if (o.resume && checkpointDir && hasTrainingCheckpoint(checkpointDir)) {
      state = loadTrainingCheckpoint(checkpointDir, model, this.optimizer);
      const savedWorld = typeof state.worldSize === 'number' ? state.worldSize : 1;
      if (savedWorld !== this.worldSize) {
        throw new Error(`resume: the checkpoint in ${checkpointDir} was written by a run of ${savedWorld} process(es); resume it with ${savedWorld}, not ${this.worldSize}`);
      }
      if (state.metricsRecords !== undefined) this.metrics?.keepFirst(state.metricsRecords);
      if (state.scheduler) this.scheduler.loadStateDict(state.scheduler);
      if (state.bestEpoch !== null && o.outputDir) this.setBest(this.loadBest(path.join(o.outputDir, 'best')));
      this.log(`resumed from ${checkpointDir} ${state.inEpoch ? `in epoch ${state.epoch + 1} after ${state.inEpoch.batches} batches` : `after epoch ${state.epoch}`} (step ${state.globalStep})`);
    }

    const result: TrainResult = { epochs: [], bestEpoch: state.bestEpoch, bestValidationAccuracy: state.bestMetric, steps: 0, seconds: 0, tokensPerSec: 0 };
    const started = Date.now();
    let tokensSeen = 0;
    let stop = false;
    for (let epoch = state.epoch + 1; epoch <= o.epochs && !stop; epoch++) {
      const epochStart = Date.now();
      model.train();
      const allBatches = lengthBucketedBatches(Array.from(this.data.train.ids, (s) => s.length), { batchSize: o.batchSize, seed: o.seed + epoch });
      const batches = shardPadded(allBatches, this.rank, this.worldSize);
      const bar = o.progress === false || !writesFiles ? null : new ProgressBar({ label: `epoch ${epoch}/${o.epochs}` });
      const resumed = state.inEpoch;
      state.inEpoch = undefined;
      if (resumed && resumed.of !== undefined && resumed.of !== batches.length) {
        throw new Error(`resume: the checkpoint stopped after ${resumed.batches} of ${resumed.of} batches in epoch ${epoch}, but this run makes ${batches.length}; resume with the same data, batchSize and seed`);
      }
      let lossSum = resumed?.lossSum ?? 0, correct = resumed?.correct ?? 0, seen = resumed?.seen ?? 0, micro = 0;
      let windowLoss = 0, windowCount = 0;
      // Saved between optimizer steps, so that resuming replays the epoch's remaining batches exactly.
      // `records`: how many metrics records the resumed run will not write again.
      const checkpointHere = (batchesDone: number, records = this.metrics?.count) => {
        if (!checkpointDir || !writesFiles) return;
        state.scheduler = this.scheduler.stateDict();
        saveTrainingCheckpoint(checkpointDir, model, this.optimizer, { ...state, worldSize: this.worldSize, inEpoch: { batches: batchesDone, of: batches.length, lossSum, correct, seen }, metricsRecords: records });
      };
      this.optimizer.zeroGrad();
      for (let b = resumed?.batches ?? 0; b < batches.length; b++) {
        const willStep = (micro + 1) % o.gradientAccumulation === 0 || b === batches.length - 1;
        // Micro-batches before the optimizer step accumulate locally; the last one's backward averages the sum.
        const { loss, right, tokens } = this.ddp && !willStep ? this.ddp.noSync(() => this.trainStep(batches[b])) : this.trainStep(batches[b]);
        tokensSeen += tokens;
        lossSum += loss * batches[b].length;
        correct += right;
        seen += batches[b].length;
        windowLoss += loss;
        windowCount++;
        micro++;
        const stepping = micro % o.gradientAccumulation === 0 || b === batches.length - 1;
        if (stepping) {
          if (o.maxGradNorm) clipGradNorm_(this.optimizer.paramGroups[0].params, o.maxGradNorm);
          this.optimizer.step();
          this.optimizer.zeroGrad();
          this.scheduler.step();
          state.globalStep++;
          result.steps++;
          if (state.globalStep % o.logEvery === 0) {
            this.record({ step: state.globalStep, epoch, split: 'train', loss: windowLoss / windowCount, lr: this.scheduler.getLastLr()[0], tokensPerSec: tokensSeen / ((Date.now() - started) / 1000) });
            windowLoss = 0;
            windowCount = 0;
          }
          if (o.saveEvery && state.globalStep % o.saveEvery === 0 && b < batches.length - 1) checkpointHere(b + 1);
          let outOfTime = o.timeBudgetSec !== undefined && (Date.now() - started) / 1000 > o.timeBudgetSec;
          // Clocks differ between ranks: they stop together when any of them is out of time.
          if (o.timeBudgetSec !== undefined && this.ddp) outOfTime = (await sumOverRanks([outOfTime ? 1 : 0]))[0] > 0;
          if ((o.maxSteps !== undefined && state.globalStep >= o.maxSteps) || outOfTime) {
            stop = true;
            break;
          }
        }
        bar?.update({ step: b + 1, total: batches.length, loss: lossSum / seen, acc: correct / seen, tokensPerSec: tokensSeen / ((Date.now() - started) / 1000) });
        await new Promise((r) => setImmediate(r)); // keep the event loop (signals, timers, servers) responsive
        if (o.signal?.aborted && stepping) {
          bar?.done();
          checkpointHere(b + 1);
          o.signal.throwIfAborted();
        }
      }
      bar?.done();
      const entry: TrainResult['epochs'][number] = { epoch, trainLoss: lossSum / Math.max(1, seen), trainAccuracy: correct / Math.max(1, seen), seconds: (Date.now() - epochStart) / 1000 };
      const recordsBeforeEpochEnd = this.metrics?.count;
      this.record({ step: state.globalStep, epoch, split: 'train', loss: entry.trainLoss, accuracy: entry.trainAccuracy });
      if (this.data.validation) {
        try {
          entry.validation = await this.evaluateEncodedAsync(this.data.validation);
        } catch (e) {
          // Resuming ends this epoch again: its summary record is written again too.
          if (o.signal?.aborted) checkpointHere(batches.length, recordsBeforeEpochEnd);
          throw e;
        }
        this.record({ step: state.globalStep, epoch, split: 'validation', loss: entry.validation.loss, accuracy: entry.validation.accuracy, f1: entry.validation.macroF1 });
        if (state.bestMetric === null || entry.validation.accuracy > state.bestMetric) {
          state.bestMetric = entry.validation.accuracy;
          state.bestEpoch = epoch;
          this.setBest(this.snapshotTrainable());
          if (o.outputDir && writesFiles) this.saveBest(path.join(o.outputDir, 'best'), epoch, entry.validation);
        }
      }
      result.epochs.push(entry);
      this.log(`epoch ${epoch}: train loss ${entry.trainLoss.toFixed(4)} acc ${(100 * entry.trainAccuracy).toFixed(2)}%` +
        (entry.validation ? ` | validation loss ${entry.validation.loss.toFixed(4)} acc ${(100 * entry.validation.accuracy).toFixed(2)}%` : '') +
        ` | ${entry.seconds.toFixed(1)} s`);
      state.epoch = epoch;
      state.scheduler = this.scheduler.stateDict();
      if (checkpointDir && writesFiles) saveTrainingCheckpoint(checkpointDir, model, this.optimizer, { ...state, worldSize: this.worldSize, metricsRecords: this.metrics?.count });
      this.writePlot();
      if (o.earlyStoppingPatience !== undefined && state.bestEpoch !== null && epoch - state.bestEpoch >= o.earlyStoppingPatience) {
        this.log(`stopping early: no better validation accuracy for ${epoch - state.bestEpoch} epochs`);
        stop = true;
      }
    }
    result.bestEpoch = state.bestEpoch;
    result.bestValidationAccuracy = state.bestMetric;
    if (this.best && (o.restoreBest ?? true)) this.restoreSnapshot(this.best);
    this.setBest(null);
    if (this.data.test) {
      result.test = await this.evaluateEncodedAsync(this.data.test);
      this.record({ step: state.globalStep, epoch: state.epoch, split: 'test', loss: result.test.loss, accuracy: result.test.accuracy, f1: result.test.macroF1 });
    }
    result.seconds = (Date.now() - started) / 1000;
    result.tokensPerSec = tokensSeen / Math.max(1e-9, result.seconds);
    this.writePlot();
    return result;
  }

  /** Frees the optimizer's state (the model stays the caller's). */
  dispose(): void {
    this.optimizer.dispose();
  }

  /** One forward + backward on a batch of example indices; the caller steps the optimizer. */
  private trainStep(indices: number[]): { loss: number; right: number; tokens: number } {
    const o = this.opts;
    return tidy(() => {
      const batch = collate(this.data.train, indices, o.tokenizer.padTokenId, o.device);
      const forward = () => o.model.call(batch.inputIds, batch.attentionMask).logits;
      const logits = o.mixedPrecision === 'bf16' ? autocast(o.device.startsWith('cuda') ? 'cuda' : 'cpu', forward) : forward();
      const loss = F.crossEntropy(logits.float(), batch.labels);
      (o.gradientAccumulation > 1 ? loss.div(o.gradientAccumulation) : loss).backward();
      const right = logits.argmax(-1).eq(batch.labels).sum().item() as number;
      return { loss: loss.item() as number, right, tokens: batch.tokens };
    });
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
    const run = this.evaluation(data);
    for (;;) {
      const r = run.next();
      if (r.done) return r.value;
    }
  }

  /** The same, giving the event loop a turn between batches; stops at once when the signal aborts. */
  private async evaluateEncodedAsync(data: EncodedExamples): Promise<EvalResult> {
    // Under DDP each rank evaluates every worldSize-th example and the sums are added up over ranks.
    const run = this.evaluation(data, this.ddp ? this.worldSize : 1);
    try {
      for (;;) {
        const r = run.next();
        if (r.done) return this.ddp ? this.reduceEval(r.value) : r.value;
        await new Promise((resolve) => setImmediate(resolve));
        this.opts.signal?.throwIfAborted();
      }
    } finally {
      run.return(undefined as never); // restores the model's mode when stopped early
    }
  }

  /** Loss and accuracy in eval mode without grad, one batch per `next()`; the model's mode is restored at the end. */
  private *evaluation(data: EncodedExamples, shards = 1): Generator<void, EvalResult> {
    const o = this.opts;
    const wasTraining = o.model.training;
    o.model.eval();
    try {
      const sorted = Array.from(data.ids.keys()).sort((a, b) => data.ids[a].length - data.ids[b].length);
      const order = shards > 1 ? shardIndices(sorted.length, this.rank, shards).map((i) => sorted[i]) : sorted;
      let lossSum = 0;
      const truth: number[] = [];
      const predicted: number[] = [];
      let numClasses = 0;
      for (const chunk of sequentialBatches(order.length, o.evalBatchSize ?? o.batchSize * 2)) {
        const idx = chunk.map((i) => order[i]);
        noGrad(() => tidy(() => {
          const batch = collate(data, idx, o.tokenizer.padTokenId, o.device);
          const forward = () => o.model.call(batch.inputIds, batch.attentionMask).logits;
          const logits = (o.mixedPrecision === 'bf16' ? autocast(o.device.startsWith('cuda') ? 'cuda' : 'cpu', forward) : forward()).float();
          lossSum += (F.crossEntropy(logits, batch.labels, { reduction: 'sum' }).item() as number);
          numClasses = logits.shape[logits.shape.length - 1];
          predicted.push(...(logits.argmax(-1).toArray() as number[]));
          for (const i of idx) truth.push(data.labels[i]);
        }));
        yield;
      }
      // Every rank's matrix must have the same size for the reduction: the head's width, also on an empty shard.
      if (numClasses === 0) numClasses = this.headWidth();
      const confusion = confusionMatrix(truth, predicted, numClasses);
      const correct = confusion.reduce((a, row, c) => a + row[c], 0);
      return { loss: lossSum / Math.max(1, order.length), accuracy: correct / Math.max(1, order.length), macroF1: macroF1(confusion), confusion, examples: order.length };
    } finally {
      o.model.train(wasTraining);
    }
  }

  /** The eval sums of every rank added up: the same EvalResult on all of them. */
  private async reduceEval(local: EvalResult): Promise<EvalResult> {
    const k = local.confusion.length;
    const sums = await sumOverRanks([local.loss * local.examples, local.examples, ...local.confusion.flat()]);
    const examples = sums[1];
    const confusion = Array.from({ length: k }, (_, r) => sums.slice(2 + r * k, 2 + (r + 1) * k));
    const correct = confusion.reduce((a, row, c) => a + row[c], 0);
    return { loss: sums[0] / Math.max(1, examples), accuracy: correct / Math.max(1, examples), macroF1: macroF1(confusion), confusion, examples };
  }

  private headWidth(): number {
    const o = this.opts;
    return noGrad(() => tidy(() => {
      const ids = collate(this.data.train, [0], o.tokenizer.padTokenId, o.device);
      const logits = o.model.call(ids.inputIds, ids.attentionMask).logits;
      return logits.shape[logits.shape.length - 1];
    }));
  }

  private setBest(snapshot: Map<Tensor, Tensor> | null): void {
    this.best?.forEach((v) => v.dispose());
    this.best = snapshot;
  }

  private snapshotTrainable(): Map<Tensor, Tensor> {
    const snap = new Map<Tensor, Tensor>();
    noGrad(() => {
      for (const p of this.optimizer.paramGroups[0].params) snap.set(p, tidy(() => keep(p.detach().clone())));
    });
    return snap;
  }

  /** The best weights so far on disk: every trainable tensor by name, plus which epoch and score they come from. */
  private saveBest(dir: string, epoch: number, validation: EvalResult): void {
    const weights = new Map<string, RawTensor>();
    for (const [n, p] of this.opts.model.namedParameters()) if (p.requiresGrad) weights.set(n, tensorToRaw(p));
    writeFolderAtomic(dir, (temp) => {
      writeSafetensors(path.join(temp, 'trainable.safetensors'), weights, { format: 'pt', epoch: String(epoch) });
      writeFileAtomic(path.join(temp, 'best.json'), [Buffer.from(JSON.stringify({ epoch, validation }, null, 2) + '\n')]);
    });
  }

  /** The snapshot saveBest wrote, for the trainable parameters; null when it is missing or does not fit. */
  private loadBest(dir: string): Map<Tensor, Tensor> | null {
    recoverFolder(dir);
    const file = path.join(dir, 'trainable.safetensors');
    if (!fs.existsSync(file)) return null;
    const saved = readSafetensors(file).tensors;
    const trainable = [...this.opts.model.namedParameters()].filter(([, p]) => p.requiresGrad);
    if (trainable.some(([n]) => !saved.has(n))) return null;
    return new Map(trainable.map(([n, p]) => [p, tidy(() => keep(rawToTensor(saved.get(n)!).to(p.device)))]));
  }

  private restoreSnapshot(snap: Map<Tensor, Tensor>): void {
    noGrad(() => snap.forEach((v, p) => p.copy_(v)));
  }

  private record(entry: MetricInput): void {
    const record = this.metrics ? this.metrics.log(entry) : { ...entry, time: entry.time ?? new Date().toISOString() };
    this.opts.onMetrics?.(record);
  }

  private writePlot(): void {
    if (!this.opts.outputDir || !this.metrics) return; // also: not rank 0
    const file = path.join(this.opts.outputDir, 'metrics.svg');
    writePlot(file, plotMetricsSvg(readMetrics(this.metrics.path), { title: 'torch-lora fine-tuning' }));
  }
}
