/**
 * Loss, accuracy, macro-F1 and the confusion matrix of a sequence classifier on labelled texts: eval mode, no grad,
 * batches of similar lengths (least padding), the model's mode restored afterwards. The Trainer evaluates with this;
 * it is also the whole job on its own, for a model trained elsewhere or loaded from an adapter:
 *
 *   const r = await evaluateAsync(model, tokenizer, test, { maxLength: 256, batchSize: 64 });
 *   console.log(r.accuracy, r.macroF1);
 */
import { tidy } from '../scope';
import { noGrad, autocast } from '../autograd';
import * as F from '../functional';
import type { Tensor } from '../tensor';
import type { Module } from '../nn/module';
import { sequentialBatches } from '../data/batching';
import type { TextExample } from '../data/dataset';
import { confusionMatrix, macroF1 } from './classification-metrics';
import type { EncodedExamples, TokenizerLike } from './encode';
import { collate, encodeExamples } from './encode';
import { TRAINER_DEFAULTS } from './defaults';

export interface SequenceClassifier extends Module {
  forward(inputIds: Tensor, attentionMask?: Tensor | null): { logits: Tensor };
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

export interface EvaluateOptions {
  /** Tokens per example after truncation (the Trainer's default: 256). */
  maxLength?: number;
  /** Examples per forward (default 32). */
  batchSize?: number;
  /** Where the model is (default 'cpu'). */
  device?: string;
  /** 'bf16': forwards under bfloat16 autocast; the loss is computed in float32. */
  mixedPrecision?: 'bf16' | null;
  /** Checked between batches by evaluateAsync. */
  signal?: AbortSignal;
}

/** @internal How the Trainer runs an evaluation (its batch size, autocast, and its shard under DDP). */
export interface EvaluationPlan {
  padTokenId: number;
  device: string;
  batchSize: number;
  amp: <T>(forward: () => T) => T;
  /** Which of the length-sorted examples to evaluate (a DDP rank's shard); all by default. */
  pick?: (count: number) => number[];
  /** The head's width, for the confusion matrix when there was nothing to evaluate (an empty DDP shard). */
  numClasses?: () => number;
}

/** bf16 autocast on the device's type, or the forward as it is. */
export function ampFor(device: string, mixedPrecision: 'bf16' | null | undefined): <T>(forward: () => T) => T {
  return mixedPrecision === 'bf16'
    ? (forward) => autocast(device.startsWith('cuda') ? 'cuda' : 'cpu', forward)
    : (forward) => forward();
}

/** @internal One batch per `next()`, so that an async caller can give the event loop a turn between batches. */
export function* evaluationSteps(
  model: SequenceClassifier,
  data: EncodedExamples,
  plan: EvaluationPlan,
): Generator<void, EvalResult> {
  const wasTraining = model.training;
  model.eval();
  try {
    const sorted = Array.from(data.ids.keys()).sort((a, b) => data.ids[a].length - data.ids[b].length);
    const order = plan.pick ? plan.pick(sorted.length).map((i) => sorted[i]) : sorted;
    let lossSum = 0;
    const truth: number[] = [];
    const predicted: number[] = [];
    let numClasses = 0;
    for (const chunk of sequentialBatches(order.length, plan.batchSize)) {
      const idx = chunk.map((i) => order[i]);
      noGrad(() =>
        tidy(() => {
          const batch = collate(data, idx, plan.padTokenId, plan.device);
          const logits = plan.amp(() => model.call(batch.inputIds, batch.attentionMask).logits).float();
          lossSum += F.crossEntropy(logits, batch.labels, { reduction: 'sum' }).item() as number;
          numClasses = logits.shape[logits.shape.length - 1];
          predicted.push(...(logits.argmax(-1).toArray() as number[]));
          for (const i of idx) truth.push(data.labels[i]);
        }),
      );
      yield;
    }
    if (numClasses === 0) numClasses = plan.numClasses?.() ?? Math.max(0, ...data.labels) + 1;
    const confusion = confusionMatrix(truth, predicted, numClasses);
    const correct = confusion.reduce((a, row, c) => a + row[c], 0);
    return {
      loss: lossSum / Math.max(1, order.length),
      accuracy: correct / Math.max(1, order.length),
      macroF1: macroF1(confusion),
      confusion,
      examples: order.length,
    };
  } finally {
    model.train(wasTraining);
  }
}

function plan(tokenizer: TokenizerLike, opts: EvaluateOptions): EvaluationPlan {
  const batchSize = opts.batchSize ?? TRAINER_DEFAULTS.batchSize * 2;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`evaluate: batchSize must be a whole number >= 1, got ${batchSize}`);
  const device = opts.device ?? 'cpu';
  return { padTokenId: tokenizer.padTokenId, device, batchSize, amp: ampFor(device, opts.mixedPrecision) };
}

function encode(tokenizer: TokenizerLike, examples: readonly TextExample[], opts: EvaluateOptions): EncodedExamples {
  const maxLength = opts.maxLength ?? TRAINER_DEFAULTS.maxLength;
  if (!Number.isInteger(maxLength) || maxLength < 2)
    throw new Error(`evaluate: maxLength must be a whole number >= 2, got ${maxLength}`);
  return encodeExamples(tokenizer, examples, maxLength);
}

/** Evaluates `model` on `examples` in one go (blocks the event loop for the whole set; see evaluateAsync). */
export function evaluate(
  model: SequenceClassifier,
  tokenizer: TokenizerLike,
  examples: readonly TextExample[],
  opts: EvaluateOptions = {},
): EvalResult {
  return drainSync(evaluationSteps(model, encode(tokenizer, examples, opts), plan(tokenizer, opts)));
}

/** The same, giving the event loop a turn between batches; rejects at once when `signal` aborts. */
export async function evaluateAsync(
  model: SequenceClassifier,
  tokenizer: TokenizerLike,
  examples: readonly TextExample[],
  opts: EvaluateOptions = {},
): Promise<EvalResult> {
  const steps = evaluationSteps(model, encode(tokenizer, examples, opts), plan(tokenizer, opts));
  return drain(steps, opts.signal);
}

/** @internal Runs the steps to the end in one go. */
export function drainSync(steps: Generator<void, EvalResult>): EvalResult {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** @internal Runs the steps with a turn of the event loop between batches; stopped early, the model's mode is restored. */
export async function drain(steps: Generator<void, EvalResult>, signal?: AbortSignal): Promise<EvalResult> {
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      await new Promise((resolve) => setImmediate(resolve));
      signal?.throwIfAborted();
    }
  } finally {
    steps.return(undefined as never);
  }
}
