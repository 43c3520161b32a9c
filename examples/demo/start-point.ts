// Where the demo's encoder comes from: pretrained distilbert-base-uncased when it can be found, otherwise a stand-in
// trained here (a small DistilBERT trained from scratch on SST-2's movie-review sentences, cached for the next run).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BertTokenizer,
  DistilBertForSequenceClassification,
  finetune,
  data as datasets,
  resolveModelPath,
  manualSeed,
} from '../../lib';

const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin', 'model.safetensors.index.json'];

/** A folder with distilbert-base-uncased weights: --model, TORCH_LORA_MODEL, or the Hugging Face cache; null if none. */
export async function findPretrained(model: string | undefined): Promise<string | null> {
  const candidates = [model, process.env.TORCH_LORA_MODEL, 'distilbert-base-uncased'].filter((c): c is string => !!c);
  for (const c of candidates) {
    try {
      const dir = await resolveModelPath(c, { offline: true });
      if (WEIGHT_FILES.some((f) => fs.existsSync(path.join(dir, f)))) return dir;
    } catch {
      // not there; try the next
    }
    // An explicit --model that does not resolve is the user's mistake, not a reason to fall back silently.
    if (c === model)
      throw new Error(`--model ${model}: no DistilBERT weights there (looked for ${WEIGHT_FILES.join(', ')})`);
  }
  return null;
}

/** A small DistilBERT: the same architecture and vocabulary, fewer and narrower layers. */
export const STAND_IN = {
  dim: 128,
  n_layers: 2,
  n_heads: 2,
  hidden_dim: 512,
  dropout: 0.1,
  attention_dropout: 0.1,
  seq_classif_dropout: 0.1,
};

export interface StandInOptions {
  tokenizerDir: string;
  sst2Dir: string;
  cacheRoot: string;
  precision: 'bf16' | 'fp32';
  useCache: boolean;
  /** Fewer SST-2 sentences (tests); all 67k by default. */
  sentences?: number;
  log: (line: string) => void;
}

/**
 * The stand-in start point: a small DistilBERT trained on SST-2 for one epoch (batch 32, rate 5e-4: 82% on SST-2's
 * validation set); only its encoder is kept, so the classification head starts fresh on IMDb as it does from
 * distilbert-base-uncased. Returns the folder, in the Hugging Face layout.
 */
export async function standInStartPoint(o: StandInOptions): Promise<string> {
  const size = o.sentences ? `-${o.sentences}` : '';
  const dir = path.join(
    o.cacheRoot,
    `sst2-encoder-d${STAND_IN.dim}-l${STAND_IN.n_layers}-1epoch-${o.precision}${size}`,
  );
  // Both the weights and the vocabulary: a run stopped between the two leaves no usable cache.
  if (o.useCache && ['model.safetensors', 'vocab.txt'].every((f) => fs.existsSync(path.join(dir, f)))) {
    o.log(`using the cached stand-in encoder at ${dir}`);
    return dir;
  }
  const tokenizer = BertTokenizer.fromPretrained(o.tokenizerDir);
  const sst2 = datasets.loadSst2(o.sst2Dir);
  const train = o.sentences ? sst2.train.slice(0, o.sentences) : sst2.train;
  o.log(
    `training the stand-in: a small DistilBERT (dim ${STAND_IN.dim}, ${STAND_IN.n_layers} layers) from scratch on SST-2 (${train.length} sentences, one epoch) ...`,
  );
  manualSeed(1);
  const model = DistilBertForSequenceClassification.random({ ...STAND_IN, num_labels: 2 }, 3);
  try {
    const r = await finetune({
      model,
      tokenizer,
      method: 'full',
      train,
      validation: sst2.validation,
      epochs: 1,
      batchSize: 32,
      lr: 5e-4,
      maxLength: 64,
      warmupRatio: 0.06,
      mixedPrecision: o.precision === 'bf16' ? 'bf16' : null,
      progress: false,
      log: () => undefined,
    });
    o.log(
      `SST-2 validation accuracy ${(100 * (r.bestValidationAccuracy ?? 0)).toFixed(2)}% after ${r.seconds.toFixed(0)} s`,
    );
    model.distilbert.savePretrained(dir);
    for (const f of ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json']) {
      if (fs.existsSync(path.join(o.tokenizerDir, f))) fs.copyFileSync(path.join(o.tokenizerDir, f), path.join(dir, f));
    }
  } finally {
    model.dispose();
  }
  return dir;
}
