// DistilBertConfig: the fields of a Hugging Face config.json, with transformers' defaults.
import { MAX_CLASSES, placeholderLabels, setLabelNames } from '../../io/hf-labels';
import * as path from 'node:path';
import { ConfigChecker, assertConfigObject, readConfigJson } from '../config-fields';
import { describeValue } from '../../io/describe';

export { labelNames, setLabelNames } from '../../io/hf-labels';
export interface DistilBertConfig {
  model_type: 'distilbert';
  vocab_size: number;
  max_position_embeddings: number;
  sinusoidal_pos_embds: boolean;
  n_layers: number;
  n_heads: number;
  dim: number;
  hidden_dim: number;
  dropout: number;
  attention_dropout: number;
  activation: 'gelu' | 'relu';
  initializer_range: number;
  qa_dropout: number;
  seq_classif_dropout: number;
  pad_token_id: number;
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  architectures?: string[];
  problem_type?: string;
  [extra: string]: unknown;
}

/**
 * transformers' defaults with `overrides` applied, every field checked; `source` (the config.json read) names the
 * input in errors.
 */
export function distilBertConfig(
  overrides: Partial<DistilBertConfig> & { num_labels?: number } = {},
  source = 'DistilBertConfig',
): DistilBertConfig {
  assertConfigObject(overrides, source);
  const { num_labels, ...rest } = overrides;
  const config: DistilBertConfig = {
    model_type: 'distilbert',
    vocab_size: 30522,
    max_position_embeddings: 512,
    sinusoidal_pos_embds: false,
    n_layers: 6,
    n_heads: 12,
    dim: 768,
    hidden_dim: 3072,
    dropout: 0.1,
    attention_dropout: 0.1,
    activation: 'gelu',
    initializer_range: 0.02,
    qa_dropout: 0.1,
    seq_classif_dropout: 0.2,
    pad_token_id: 0,
    id2label: { 0: 'LABEL_0', 1: 'LABEL_1' },
    label2id: { LABEL_0: 0, LABEL_1: 1 },
    ...rest,
  };
  if (num_labels !== undefined) {
    if (!Number.isInteger(num_labels) || num_labels < 1 || num_labels > MAX_CLASSES)
      throw new Error(`${source}: num_labels must be an integer from 1 to ${MAX_CLASSES}, got ${num_labels}`);
    if (num_labels !== numLabels(config)) setNumLabels(config, num_labels);
  }
  checkDistilBertConfig(config, source);
  return config;
}

// Generous bounds: distilbert-base is 6 layers of width 768 over 30,522 words; these only keep a typo or a hostile
// file from asking libtorch for terabytes (the product bound) or building a model that fails later.
const MAX_WIDTH = 1 << 16;
const MAX_VOCAB = 1 << 22;
const MAX_POSITIONS = 1 << 20;
const MAX_LAYERS = 256;
const MAX_PARAMETERS = 4e9;

function checkDistilBertConfig(config: DistilBertConfig, source: string): void {
  const c = new ConfigChecker(config, source);
  const vocab = c.integer('vocab_size', 1, MAX_VOCAB);
  const positions = c.integer('max_position_embeddings', 1, MAX_POSITIONS);
  const layers = c.integer('n_layers', 1, MAX_LAYERS);
  const dim = c.integer('dim', 1, MAX_WIDTH);
  const heads = c.integer('n_heads', 1, dim);
  c.require(dim % heads === 0, 'n_heads', `a divisor of dim (${dim})`);
  const hidden = c.integer('hidden_dim', 1, MAX_WIDTH * 4);
  c.integer('pad_token_id', 0, vocab - 1);
  c.boolean('sinusoidal_pos_embds');
  c.oneOf('activation', ['gelu', 'relu'] as const);
  for (const p of ['dropout', 'attention_dropout', 'qa_dropout', 'seq_classif_dropout']) c.number(p, 0, 1);
  c.number('initializer_range', 0, 1e6);
  checkId2label(config, c);
  const parameters = (vocab + positions) * dim + layers * (4 * dim * dim + 2 * dim * hidden);
  c.require(
    parameters <= MAX_PARAMETERS,
    'dim',
    `small enough for at most ${MAX_PARAMETERS} parameters (these fields give ${parameters.toExponential(2)})`,
  );
}

// id2label: {"0": name, ...}, at most MAX_CLASSES names, keys the class indices.
function checkId2label(config: DistilBertConfig, c: ConfigChecker): void {
  const id2label = config.id2label as unknown;
  const entries =
    typeof id2label === 'object' && id2label !== null && !Array.isArray(id2label)
      ? Object.entries(id2label)
      : undefined;
  c.require(entries !== undefined, 'id2label', 'an object {"0": name, ...}');
  c.require(entries!.length <= MAX_CLASSES, 'id2label', `at most ${MAX_CLASSES} classes`);
  for (const [k, v] of entries!) {
    c.require(
      /^\d+$/.test(k) && Number(k) < MAX_CLASSES && typeof v === 'string',
      'id2label',
      `an object from class indices to names (entry ${JSON.stringify(k.slice(0, 40))} is not)`,
    );
  }
}

/** A folder's config.json as a DistilBertConfig, every field checked; errors name the file and the field. */
export function readDistilBertConfig(dir: string, numLabelsOverride?: number): DistilBertConfig {
  const raw = readConfigJson(dir);
  const source = path.join(dir, 'config.json');
  if (raw.model_type !== undefined && raw.model_type !== 'distilbert')
    throw new Error(`${source}: model_type is ${describeValue(raw.model_type, 80)}, not "distilbert"`);
  return distilBertConfig({ ...(raw as Partial<DistilBertConfig>), num_labels: numLabelsOverride }, source);
}

export function numLabels(config: DistilBertConfig): number {
  return Object.keys(config.id2label ?? {}).length || 2;
}

export function setNumLabels(config: DistilBertConfig, n: number): void {
  setLabelNames(config, placeholderLabels(n));
}
