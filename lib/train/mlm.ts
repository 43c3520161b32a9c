// Masked-language-model (continued) pretraining with DistilBertForMaskedLM: BERT's 15% masking with 80/10/10
// mask/random/keep, the way users adapt a model to their domain before fine-tuning. It is a Trainer configuration:
// a masking collator and the MLM loss; pretrainMlm sets it up.
import type { Tensor } from '../tensor';
import { crossEntropy } from '../functional';
import type { Random } from '../data/split';
import { mulberry32 } from '../data/split';
import type { DistilBertForMaskedLM } from '../models/distilbert/modeling';
import { ProgressCallback } from './callbacks';
import type { Collator, TokenizerLike } from './encode';
import { longTensor, padRows } from './encode';
import { MLM_DEFAULTS, withDefaults } from './defaults';
import type { ComputeLoss } from './trainer';
import { Trainer } from './trainer';

export interface MaskingOptions {
  maskTokenId: number;
  vocabSize: number;
  /** Token ids never chosen for prediction ([CLS], [SEP], [PAD]). */
  specialIds: ReadonlySet<number>;
  probability?: number;
}

/**
 * BERT's masking on one padded batch (row-major ids): each non-special token is chosen with probability 15%;
 * a chosen token becomes [MASK] 80% of the time, a random token 10%, and stays 10%. Labels are the original ids
 * at chosen positions and -100 elsewhere.
 */
export function maskTokens(
  ids: Int32Array,
  opts: MaskingOptions,
  random: Random,
): { inputs: Int32Array; labels: Int32Array } {
  const p = opts.probability ?? MLM_DEFAULTS.maskProbability;
  const inputs = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(-100);
  for (let i = 0; i < ids.length; i++) {
    if (opts.specialIds.has(ids[i]) || random() >= p) continue;
    labels[i] = ids[i];
    const r = random();
    if (r < 0.8) inputs[i] = opts.maskTokenId;
    else if (r < 0.9) inputs[i] = Math.floor(random() * opts.vocabSize);
  }
  return { inputs, labels };
}

/** transformers' DataCollatorForLanguageModeling: padded batches, masked afresh each time; labels flat [batch * len]. */
export function maskingCollator(masking: MaskingOptions, random: Random): Collator {
  return (data, indices, padId, device) => {
    const p = padRows(
      indices.map((i) => data.ids[i]),
      padId,
    );
    const { inputs, labels } = maskTokens(p.ids, masking, random);
    return {
      inputIds: longTensor(inputs, [p.rows, p.len], device),
      attentionMask: longTensor(p.mask, [p.rows, p.len], device),
      labels: longTensor(labels, [p.rows * p.len], device),
      tokens: p.tokens,
    };
  };
}

/** The Trainer's loss for batches of maskingCollator. */
export const mlmLoss: ComputeLoss = (model, batch) => ({
  loss: maskedLmLoss(model as unknown as DistilBertForMaskedLM, batch.inputIds, batch.attentionMask, batch.labels),
});

export interface MlmOptions {
  model: DistilBertForMaskedLM;
  tokenizer: TokenizerLike & { maskTokenId: number; clsTokenId: number; sepTokenId: number; vocabSize: number };
  texts: readonly string[];
  maxLength?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Stop after this many steps or seconds, whichever comes first (default: one pass over the texts). */
  maxSteps?: number;
  timeBudgetSec?: number;
  seed?: number;
  progress?: boolean;
}

export interface MlmResult {
  steps: number;
  seconds: number;
  firstLoss: number;
  lastLoss: number;
  tokensPerSec: number;
}

/** Trains the MLM head and encoder for one pass (at most) over the texts, with the Trainer. */
export async function pretrainMlm(o: MlmOptions): Promise<MlmResult> {
  const d = withDefaults(MLM_DEFAULTS, {
    maxLength: o.maxLength,
    batchSize: o.batchSize,
    lr: o.lr,
    weightDecay: o.weightDecay,
    seed: o.seed,
  });
  const masking: MaskingOptions = {
    maskTokenId: o.tokenizer.maskTokenId,
    vocabSize: o.tokenizer.vocabSize,
    probability: d.maskProbability,
    specialIds: new Set([o.tokenizer.padTokenId, o.tokenizer.clsTokenId, o.tokenizer.sepTokenId]),
  };
  const batches = Math.ceil(o.texts.length / d.batchSize);
  const losses: number[] = [];
  const trainer = new Trainer({
    model: o.model,
    tokenizer: o.tokenizer,
    train: o.texts.map((text) => ({ text, label: 0 })),
    epochs: 1,
    maxLength: d.maxLength,
    batchSize: d.batchSize,
    lr: d.lr,
    weightDecay: d.weightDecay,
    seed: d.seed,
    warmupRatio: d.warmupRatio,
    maxGradNorm: d.maxGradNorm,
    schedule: 'linear',
    maxSteps: Math.min(o.maxSteps ?? batches, batches),
    timeBudgetSec: o.timeBudgetSec,
    collator: maskingCollator(masking, mulberry32(d.seed)),
    computeLoss: mlmLoss,
    distributed: false,
    logEvery: 1,
    onMetrics: (r) => r.lr !== undefined && losses.push(r.loss!),
    progress: false,
    log: () => undefined,
    callbacks: o.progress === false ? [] : [new ProgressCallback({ label: () => 'MLM pretraining' })],
  });
  try {
    const r = await trainer.train();
    return {
      steps: r.steps,
      seconds: r.seconds,
      firstLoss: losses[0] ?? NaN,
      lastLoss: losses[losses.length - 1] ?? NaN,
      tokensPerSec: r.tokensPerSec,
    };
  } finally {
    trainer.dispose();
  }
}

/** Cross-entropy over the vocabulary at labelled positions only (labels -100 elsewhere): the same loss as the model's
 * forward with labels, with the head run on the chosen positions only (less work). */
export function maskedLmLoss(
  model: DistilBertForMaskedLM,
  inputIds: Tensor,
  attentionMask: Tensor,
  flatLabels: Tensor,
): Tensor {
  const hidden = model.distilbert.call(inputIds, attentionMask);
  const chosen = flatLabels.ne(-100).nonzero().squeeze(1);
  const logits = model.predictionHead(hidden.reshape(-1, hidden.shape[2]).indexSelect(0, chosen));
  return crossEntropy(logits, flatLabels.indexSelect(0, chosen));
}
