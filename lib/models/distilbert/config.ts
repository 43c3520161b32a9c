// DistilBertConfig: the fields of a Hugging Face config.json, with transformers' defaults.
import { placeholderLabels, setLabelNames } from '../labels';

export { labelNames, setLabelNames } from '../labels';
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

export function distilBertConfig(overrides: Partial<DistilBertConfig> & { num_labels?: number } = {}): DistilBertConfig {
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
  if (num_labels !== undefined && num_labels !== numLabels(config)) setNumLabels(config, num_labels);
  if (config.dim % config.n_heads !== 0) throw new Error(`dim ${config.dim} is not a multiple of n_heads ${config.n_heads}`);
  return config;
}

export function numLabels(config: DistilBertConfig): number {
  return Object.keys(config.id2label ?? {}).length || 2;
}

export function setNumLabels(config: DistilBertConfig, n: number): void {
  setLabelNames(config, placeholderLabels(n));
}
