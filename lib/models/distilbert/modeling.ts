// DistilBERT with Hugging Face's module names, so state-dict keys match checkpoints exactly
// (distilbert.transformer.layer.0.attention.q_lin.weight, ...).
import type { Tensor } from '../../tensor';
import { arange, fromBuffer } from '../../creation';
import { tidy } from '../../scope';
import { noGrad } from '../../autograd';
import * as F from '../../functional';
import { Module } from '../../nn/module';
import { Dropout, Embedding, LayerNorm, Linear } from '../../nn/layers';
import { ModuleList } from '../../nn/containers';
import type { DistilBertConfig } from './config';
import { numLabels } from './config';
import { fromPretrained, randomDistilBert, saveDistilBert } from './loading';
import type { FromPretrainedOptions, LoadingInfo } from '../pretrained';

export class Embeddings extends Module {
  word_embeddings: Embedding;
  position_embeddings: Embedding;
  LayerNorm: LayerNorm;
  dropout: Dropout;
  constructor(config: DistilBertConfig) {
    super();
    this.word_embeddings = this.registerModule(
      'word_embeddings',
      new Embedding(config.vocab_size, config.dim, { paddingIdx: config.pad_token_id }),
    );
    this.position_embeddings = this.registerModule(
      'position_embeddings',
      new Embedding(config.max_position_embeddings, config.dim),
    );
    if (config.sinusoidal_pos_embds)
      sinusoidalInit(this.position_embeddings.weight, config.max_position_embeddings, config.dim);
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(config.dim, 1e-12));
    this.dropout = this.registerModule('dropout', new Dropout(config.dropout));
  }
  forward(inputIds: Tensor): Tensor {
    const seqLen = inputIds.shape[1];
    if (seqLen > this.position_embeddings.numEmbeddings) {
      throw new Error(
        `sequence length ${seqLen} is longer than max_position_embeddings ${this.position_embeddings.numEmbeddings}`,
      );
    }
    // Children run through call(): each frees its intermediates when it returns (autograd keeps what backward
    // needs), so memory is released as it is in PyTorch rather than at the end of the caller's tidy.
    const positions = arange(seqLen, undefined, 1, { device: inputIds.device });
    const x = this.word_embeddings.call(inputIds).add(this.position_embeddings.call(positions));
    return this.dropout.call(this.LayerNorm.call(x));
  }
}

function sinusoidalInit(weight: Tensor, nPos: number, dim: number): void {
  const values = new Float32Array(nPos * dim);
  for (let pos = 0; pos < nPos; pos++) {
    for (let j = 0; j < dim; j++) {
      const angle = pos / Math.pow(10000, (2 * Math.floor(j / 2)) / dim);
      values[pos * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  tidy(() => noGrad(() => weight.copy_(fromBuffer(values, [nPos, dim], 'float32'))));
  weight.requiresGrad_(false);
}

export class MultiHeadSelfAttention extends Module {
  q_lin: Module & { forward(x: Tensor): Tensor };
  k_lin: Module & { forward(x: Tensor): Tensor };
  v_lin: Module & { forward(x: Tensor): Tensor };
  out_lin: Module & { forward(x: Tensor): Tensor };
  dropout: Dropout;
  readonly nHeads: number;
  readonly dim: number;
  constructor(config: DistilBertConfig) {
    super();
    this.nHeads = config.n_heads;
    this.dim = config.dim;
    this.q_lin = this.registerModule('q_lin', new Linear(config.dim, config.dim));
    this.k_lin = this.registerModule('k_lin', new Linear(config.dim, config.dim));
    this.v_lin = this.registerModule('v_lin', new Linear(config.dim, config.dim));
    this.out_lin = this.registerModule('out_lin', new Linear(config.dim, config.dim));
    this.dropout = this.registerModule('dropout', new Dropout(config.attention_dropout));
  }
  /** x [batch, len, dim]; keepMask [batch, 1, 1, len] bool, true where a token may be attended to. */
  forward(x: Tensor, keepMask: Tensor | null): Tensor {
    const [bs, len] = x.shape;
    const dph = this.dim / this.nHeads;
    const heads = (t: Tensor) => t.view(bs, len, this.nHeads, dph).transpose(1, 2);
    const q = heads(this.q_lin.call(x));
    const k = heads(this.k_lin.call(x));
    const v = heads(this.v_lin.call(x));
    const context = F.scaledDotProductAttention(q, k, v, {
      attnMask: keepMask,
      dropoutP: this.dropout.p,
      training: this.training,
    });
    return this.out_lin.call(context.transpose(1, 2).reshape(bs, len, this.dim));
  }
}

export class FFN extends Module {
  lin1: Module & { forward(x: Tensor): Tensor };
  lin2: Module & { forward(x: Tensor): Tensor };
  dropout: Dropout;
  constructor(private readonly config: DistilBertConfig) {
    super();
    this.dropout = this.registerModule('dropout', new Dropout(config.dropout));
    this.lin1 = this.registerModule('lin1', new Linear(config.dim, config.hidden_dim));
    this.lin2 = this.registerModule('lin2', new Linear(config.hidden_dim, config.dim));
  }
  forward(x: Tensor): Tensor {
    const h = this.lin1.call(x);
    const a = this.config.activation === 'relu' ? h.relu() : h.gelu();
    h.dispose();
    return this.dropout.call(this.lin2.call(a));
  }
}

export class TransformerBlock extends Module {
  attention: MultiHeadSelfAttention;
  sa_layer_norm: LayerNorm;
  ffn: FFN;
  output_layer_norm: LayerNorm;
  constructor(config: DistilBertConfig) {
    super();
    this.attention = this.registerModule('attention', new MultiHeadSelfAttention(config));
    this.sa_layer_norm = this.registerModule('sa_layer_norm', new LayerNorm(config.dim, 1e-12));
    this.ffn = this.registerModule('ffn', new FFN(config));
    this.output_layer_norm = this.registerModule('output_layer_norm', new LayerNorm(config.dim, 1e-12));
  }
  forward(x: Tensor, keepMask: Tensor | null): Tensor {
    const sa = this.sa_layer_norm.call(this.attention.call(x, keepMask).add(x));
    return this.output_layer_norm.call(this.ffn.call(sa).add(sa));
  }
}

export class Transformer extends Module {
  layer: ModuleList<TransformerBlock>;
  constructor(config: DistilBertConfig) {
    super();
    this.layer = this.registerModule(
      'layer',
      new ModuleList([...Array(config.n_layers)].map(() => new TransformerBlock(config))),
    );
  }
  forward(x: Tensor, keepMask: Tensor | null): Tensor {
    let h = x;
    for (const block of this.layer) {
      const next = block.call(h, keepMask);
      if (h !== x) h.dispose(); // the previous block's output: autograd holds it if backward needs it
      h = next;
    }
    return h;
  }
}

/** What every DistilBERT head shares, as transformers' DistilBertPreTrainedModel: loading, random init, saving. */
export abstract class DistilBertPreTrainedModel extends Module {
  abstract readonly config: DistilBertConfig;
  /** Builds the model from a checkpoint folder or hub id; keys the checkpoint lacks are initialised and reported. */
  static fromPretrained<M extends DistilBertPreTrainedModel>(
    this: new (config: DistilBertConfig) => M,
    pathOrId: string,
    opts: FromPretrainedOptions = {},
  ): Promise<M & { loadingInfo: LoadingInfo }> {
    return fromPretrained(this, pathOrId, opts);
  }
  /** Random weights initialised as transformers does, from a seed. */
  static random<M extends DistilBertPreTrainedModel>(
    this: new (config: DistilBertConfig) => M,
    config: Partial<DistilBertConfig> & { num_labels?: number } = {},
    seed?: number,
  ): M {
    return randomDistilBert(this, config, seed);
  }
  savePretrained(dir: string): void {
    saveDistilBert(this, dir);
  }
}

/** The bare encoder: input ids [batch, len] (+ attention mask) to hidden states [batch, len, dim]. */
export class DistilBertModel extends DistilBertPreTrainedModel {
  embeddings: Embeddings;
  transformer: Transformer;
  constructor(readonly config: DistilBertConfig) {
    super();
    this.embeddings = this.registerModule('embeddings', new Embeddings(config));
    this.transformer = this.registerModule('transformer', new Transformer(config));
  }
  forward(inputIds: Tensor, attentionMask?: Tensor | null): Tensor {
    const keep = attentionMask ? attentionMask.bool().view(attentionMask.shape[0], 1, 1, attentionMask.shape[1]) : null;
    return this.transformer.call(this.embeddings.call(inputIds), keep);
  }
}

export interface ClassifierOutput {
  logits: Tensor;
  loss?: Tensor;
}

/** [CLS] → pre_classifier → ReLU → dropout → classifier, as transformers' DistilBertForSequenceClassification. */
export class DistilBertForSequenceClassification extends DistilBertPreTrainedModel {
  distilbert: DistilBertModel;
  pre_classifier: Module & { forward(x: Tensor): Tensor };
  classifier: Module & { forward(x: Tensor): Tensor };
  dropout: Dropout;
  constructor(readonly config: DistilBertConfig) {
    super();
    this.distilbert = this.registerModule('distilbert', new DistilBertModel(config));
    this.pre_classifier = this.registerModule('pre_classifier', new Linear(config.dim, config.dim));
    this.classifier = this.registerModule('classifier', new Linear(config.dim, numLabels(config)));
    this.dropout = this.registerModule('dropout', new Dropout(config.seq_classif_dropout));
  }
  get numLabels(): number {
    return numLabels(this.config);
  }
  forward(inputIds: Tensor, attentionMask?: Tensor | null, labels?: Tensor | null): ClassifierOutput {
    const hidden = this.distilbert.call(inputIds, attentionMask);
    const pooled = this.dropout.call(this.pre_classifier.call(hidden.select(1, 0)).relu());
    const logits = this.classifier.call(pooled);
    return labels ? { logits, loss: F.crossEntropy(logits, labels) } : { logits };
  }
}

/** The masked-language-model head of distilbert-base-uncased; vocab_projector shares word_embeddings' weight. */
export class DistilBertForMaskedLM extends DistilBertPreTrainedModel {
  distilbert: DistilBertModel;
  vocab_transform: Linear;
  vocab_layer_norm: LayerNorm;
  vocab_projector: Linear;
  constructor(readonly config: DistilBertConfig) {
    super();
    this.distilbert = this.registerModule('distilbert', new DistilBertModel(config));
    this.vocab_transform = this.registerModule('vocab_transform', new Linear(config.dim, config.dim));
    this.vocab_layer_norm = this.registerModule('vocab_layer_norm', new LayerNorm(config.dim, 1e-12));
    this.vocab_projector = this.registerModule('vocab_projector', new Linear(config.dim, config.vocab_size));
    this.tieWeights();
  }
  /** Shares the input embedding matrix with the output projection. */
  tieWeights(): void {
    const own = this.vocab_projector.weight;
    this.vocab_projector.registerParameter('weight', this.distilbert.embeddings.word_embeddings.weight);
    if (own !== this.vocab_projector.weight) own.dispose();
  }
  /** The MLM head: hidden states [..., dim] to logits over the vocabulary (also on a selection of positions). */
  predictionHead(hidden: Tensor): Tensor {
    return this.vocab_projector.call(this.vocab_layer_norm.call(this.vocab_transform.call(hidden).gelu()));
  }
  /** Logits over the vocabulary [batch, len, vocab]; with labels (-100 = ignored), the MLM loss too. */
  forward(inputIds: Tensor, attentionMask?: Tensor | null, labels?: Tensor | null): ClassifierOutput {
    const logits = this.predictionHead(this.distilbert.call(inputIds, attentionMask));
    if (!labels) return { logits };
    const loss = F.crossEntropy(logits.view(-1, logits.shape[2]), labels.view(-1), { ignoreIndex: -100 });
    return { logits, loss };
  }
}
