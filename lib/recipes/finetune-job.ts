// A whole fine-tuning run described by plain data (model path, dataset, method, training options), so that the same
// description runs in this thread (the CLI), or in a worker thread from a server (finetuneInWorker).
import * as path from 'node:path';
import { DistilBertForSequenceClassification } from '../models/distilbert/modeling';
import { AutoTokenizer } from '../tokenizer';
import { backend, cuda } from '../cuda';
import { manualSeed } from '../creation';
import { classCount, MAX_CLASSES, type TextExample } from '../data/dataset';
import { describeValue } from '../io/describe';
import type { TrainerOptions } from '../train/trainer';
import type { MetricRecord } from '../train/metrics-log';
import type { FinetuneResult, LoraSwitches, Method } from './finetune';
import { finetune } from './finetune';
import type { DatasetOptions } from './load-dataset';
import { loadTextDataset } from './load-dataset';
import { TRAINER_DEFAULTS } from './defaults';

/** Examples given directly instead of a dataset path; labels name the classes 0..n-1 (default: from the examples). */
export interface InlineDataset {
  name?: string;
  labels?: string[];
  train: TextExample[];
  validation?: TextExample[];
  test?: TextExample[];
}

type SerializableTrainerOptions = Omit<
  TrainerOptions,
  | 'model'
  | 'tokenizer'
  | 'train'
  | 'validation'
  | 'test'
  | 'log'
  | 'onMetrics'
  | 'signal'
  | 'callbacks'
  | 'computeLoss'
  | 'collator'
>;

export interface FinetuneJob extends SerializableTrainerOptions {
  /** A model folder or a Hugging Face hub id (resolved as fromPretrained does). */
  model: string;
  /** A dataset path as `loadTextDataset` reads it, or the examples themselves. */
  data: string | InlineDataset;
  /** Columns and per-split sizes when `data` is a path. */
  dataOptions?: Omit<DatasetOptions, 'seed'>;
  /** Default 'lora' (query and value unless `lora` says otherwise). */
  method?: Method;
  lora?: LoraSwitches;
  /** libtorch's intra-op threads for this run. */
  threads?: number;
}

export interface FinetuneJobResult extends FinetuneResult {
  data: { name: string; labels: string[]; train: number; validation: number; test: number };
}

export interface FinetuneJobHooks {
  log?: (line: string) => void;
  onMetrics?: (record: MetricRecord) => void;
  signal?: AbortSignal;
}

/** Loads the data and the model, fine-tunes, writes outputs (adapter, metrics, checkpoints) and frees the model. */
export async function runFinetuneJob(job: FinetuneJob, hooks: FinetuneJobHooks = {}): Promise<FinetuneJobResult> {
  const { model: modelPath, data: source, dataOptions, method = 'lora', lora, threads, ...training } = job;
  if (typeof modelPath !== 'string' || !modelPath)
    throw new Error('finetune job: `model` must be a model folder or hub id');
  if (threads !== undefined) backend.setNumThreads(threads);
  const device = training.device ?? TRAINER_DEFAULTS.device;
  if (device.startsWith('cuda') && !cuda.isAvailable())
    throw new Error(`device ${device}: CUDA is not available in this build of libtorch`);
  const seed = training.seed ?? TRAINER_DEFAULTS.seed;
  const data = typeof source === 'string' ? await loadTextDataset(source, { ...dataOptions, seed }) : inline(source);
  hooks.signal?.throwIfAborted();
  manualSeed(seed); // a fresh head, the LoRA matrices and dropout: the same run for the same seed, as HF's set_seed
  const model = await DistilBertForSequenceClassification.fromPretrained(modelPath, {
    numLabels: data.labels.length,
    id2label: data.labels,
    ignoreMismatchedSizes: true,
    device,
  });
  try {
    const tokenizer = AutoTokenizer.fromPretrained(modelDir(model, modelPath));
    hooks.log?.(
      `data: ${data.name} — train ${data.train.length}, validation ${data.validation.length}, test ${data.test.length}; labels ${data.labels.join(', ')}`,
    );
    const result = await finetune({
      ...training,
      model,
      tokenizer,
      method,
      lora,
      train: data.train,
      validation: data.validation,
      test: data.test,
      device,
      seed,
      baseModelName: modelPath,
      log: hooks.log ?? (() => undefined),
      onMetrics: hooks.onMetrics,
      signal: hooks.signal,
    });
    const sizes = {
      name: data.name,
      labels: data.labels,
      train: data.train.length,
      validation: data.validation.length,
      test: data.test.length,
    };
    return { ...result, data: sizes };
  } finally {
    model.dispose();
  }
}

function inline(d: InlineDataset): {
  name: string;
  labels: string[];
  train: TextExample[];
  validation: TextExample[];
  test: TextExample[];
} {
  if (!d || !Array.isArray(d.train) || d.train.length === 0)
    throw new Error('finetune job: `data.train` must be a non-empty array of { text, label }');
  const splits = { train: d.train, validation: d.validation ?? [], test: d.test ?? [] };
  let n = 0;
  for (const [split, examples] of Object.entries(splits)) {
    if (!Array.isArray(examples))
      throw new Error(`finetune job: \`data.${split}\` must be an array of { text, label }`);
    const where = (i: number) => `finetune job: data.${split}[${i}]`;
    examples.forEach((e, i) => {
      if (typeof e?.text !== 'string') throw new Error(`${where(i)}: needs a string text, got ${describeValue(e)}`);
    });
    n = Math.max(
      n,
      classCount(
        examples.map((e) => e.label),
        where,
      ),
    );
  }
  if (
    d.labels !== undefined &&
    (!Array.isArray(d.labels) || !d.labels.every((l) => typeof l === 'string') || d.labels.length > MAX_CLASSES)
  ) {
    throw new Error(`finetune job: \`data.labels\` must be an array of at most ${MAX_CLASSES} class names`);
  }
  const labels = d.labels ?? Array.from({ length: Math.max(n, 2) }, (_, i) => String(i));
  if (labels.length < n) throw new Error(`finetune job: ${labels.length} label names for labels up to ${n - 1}`);
  return { name: d.name ?? 'inline', labels, ...splits };
}

/** The folder fromPretrained read the weights from (for the tokenizer files beside them). */
export function modelDir(model: { loadingInfo?: { files: string[] } }, fallback: string): string {
  const f = model.loadingInfo?.files[0];
  return f ? path.dirname(f) : fallback;
}
