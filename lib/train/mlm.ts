// Masked-language-model (continued) pretraining with DistilBertForMaskedLM: BERT's 15% masking with 80/10/10
// mask/random/keep, the way users adapt a model to their domain before fine-tuning.
import { Tensor } from '../tensor';
import { fromBuffer } from '../creation';
import { tidy } from '../scope';
import { crossEntropy } from '../functional';
import { clipGradNorm_ } from '../nn/utils';
import { AdamW } from '../optim/adam';
import { linearScheduleWithWarmup } from '../optim/schedulers';
import { mulberry32, Random } from '../data/split';
import { lengthBucketedBatches } from '../data/batching';
import type { DistilBertForMaskedLM } from '../models/distilbert/modeling';
import { ProgressBar } from './progress';
import type { TokenizerLike } from './encode';

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
export function maskTokens(ids: Int32Array, opts: MaskingOptions, random: Random): { inputs: Int32Array; labels: Int32Array } {
  const p = opts.probability ?? 0.15;
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

export interface MlmResult { steps: number; seconds: number; firstLoss: number; lastLoss: number; tokensPerSec: number }

/** Trains the MLM head and encoder; the loss is computed at the chosen positions only (the same loss, less work). */
export async function pretrainMlm(o: MlmOptions): Promise<MlmResult> {
  const maxLength = o.maxLength ?? 128;
  const batchSize = o.batchSize ?? 16;
  const random = mulberry32(o.seed ?? 0);
  const ids = o.texts.map((t) => Int32Array.from(o.tokenizer.encode(t, { maxLength, truncation: true })));
  const batches = lengthBucketedBatches(ids.map((s) => s.length), { batchSize, seed: o.seed ?? 0 });
  const steps = Math.min(o.maxSteps ?? batches.length, batches.length);
  const params = o.model.parameters().filter((p) => p.requiresGrad);
  const opt = new AdamW(params, { lr: o.lr ?? 5e-4, weightDecay: o.weightDecay ?? 0.01 });
  const sched = linearScheduleWithWarmup(opt, Math.round(steps * 0.06), steps);
  const masking: MaskingOptions = {
    maskTokenId: o.tokenizer.maskTokenId, vocabSize: o.tokenizer.vocabSize,
    specialIds: new Set([o.tokenizer.padTokenId, o.tokenizer.clsTokenId, o.tokenizer.sepTokenId]),
  };
  const bar = o.progress === false ? null : new ProgressBar({ label: 'MLM pretraining' });
  o.model.train();
  const started = Date.now();
  let first = NaN, last = NaN, tokens = 0, done = 0;
  for (; done < steps; done++) {
    const rows = batches[done];
    const len = Math.max(...rows.map((r) => ids[r].length));
    const flat = new Int32Array(rows.length * len).fill(o.tokenizer.padTokenId);
    const mask = new Int32Array(rows.length * len);
    rows.forEach((r, k) => {
      flat.set(ids[r], k * len);
      mask.fill(1, k * len, k * len + ids[r].length);
      tokens += ids[r].length;
    });
    const { inputs, labels } = maskTokens(flat, masking, random);
    const loss = tidy(() => {
      const l = maskedLmLoss(o.model, asLong(inputs, [rows.length, len]), asLong(mask, [rows.length, len]), asLong(labels, [rows.length * len]));
      l.backward();
      return l.item() as number;
    });
    clipGradNorm_(params, 1.0);
    opt.step();
    opt.zeroGrad();
    sched.step();
    if (done === 0) first = loss;
    last = loss;
    bar?.update({ step: done + 1, total: steps, loss, tokensPerSec: tokens / ((Date.now() - started) / 1000) });
    if (o.timeBudgetSec !== undefined && (Date.now() - started) / 1000 > o.timeBudgetSec) {
      done++;
      break;
    }
    await new Promise((r) => setImmediate(r));
  }
  bar?.done();
  for (const s of opt.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
  const seconds = (Date.now() - started) / 1000;
  return { steps: done, seconds, firstLoss: first, lastLoss: last, tokensPerSec: tokens / seconds };
}

/** Cross-entropy over the vocabulary at labelled positions only (labels -100 elsewhere), as the MLM head computes it. */
export function maskedLmLoss(model: DistilBertForMaskedLM, inputIds: Tensor, attentionMask: Tensor, flatLabels: Tensor): Tensor {
  const hidden = model.distilbert.call(inputIds, attentionMask);
  const dim = hidden.shape[2];
  const chosen = flatLabels.ne(-100).nonzero().squeeze(1);
  const h = hidden.reshape(-1, dim).indexSelect(0, chosen);
  const logits = model.vocab_projector.forward(model.vocab_layer_norm.forward(model.vocab_transform.forward(h).gelu()));
  return crossEntropy(logits, flatLabels.indexSelect(0, chosen));
}

function asLong(a: Int32Array, shape: number[]): Tensor {
  return fromBuffer(a, shape, 'int32').long();
}
