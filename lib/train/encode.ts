// Tokenizing a labelled dataset once, and turning index lists into padded batch tensors: the one collate function
// every batch goes through (classification batches here, MLM's masking collator on the same padding).
import type { Tensor } from '../tensor';
import { fromBuffer } from '../creation';
import type { TextExample } from '../data/dataset';

export interface TokenizerLike {
  encode(text: string, opts?: { maxLength?: number; truncation?: boolean }): number[];
  padTokenId: number;
}

export interface EncodedExamples {
  ids: Int32Array[];
  labels: Int32Array;
}

export function encodeExamples(
  tokenizer: TokenizerLike,
  examples: readonly TextExample[],
  maxLength: number,
): EncodedExamples {
  const ids = examples.map((e) => Int32Array.from(tokenizer.encode(e.text, { maxLength, truncation: true })));
  return { ids, labels: Int32Array.from(examples, (e) => e.label) };
}

export interface Batch {
  inputIds: Tensor;
  attentionMask: Tensor;
  labels: Tensor;
  /** Real (non-padding) tokens in the batch. */
  tokens: number;
}

/** Turns the examples at `indices` into a Batch on `device` (DataCollatorWithPadding's job); see `collate`. */
export type Collator = (data: EncodedExamples, indices: readonly number[], padId: number, device: string) => Batch;

/** The chosen sequences padded to the longest among them, row-major, with their attention mask. */
export interface PaddedRows {
  ids: Int32Array;
  mask: Int32Array;
  rows: number;
  len: number;
  tokens: number;
}

export function padRows(seqs: readonly Int32Array[], padId: number): PaddedRows {
  const len = Math.max(0, ...seqs.map((s) => s.length));
  const ids = new Int32Array(seqs.length * len).fill(padId);
  const mask = new Int32Array(seqs.length * len);
  let tokens = 0;
  seqs.forEach((seq, row) => {
    ids.set(seq, row * len);
    mask.fill(1, row * len, row * len + seq.length);
    tokens += seq.length;
  });
  return { ids, mask, rows: seqs.length, len, tokens };
}

/** int32 host data as the int64 tensor models take, on `device`. */
export function longTensor(a: Int32Array, shape: number[], device = 'cpu'): Tensor {
  const t = fromBuffer(a, shape, 'int32');
  const out = t.to({ dtype: 'int64', device });
  t.dispose();
  return out;
}

/** Pads the chosen examples to the longest among them; int64 tensors on `device`, labels [batch]. */
export function collate(data: EncodedExamples, indices: readonly number[], padId: number, device = 'cpu'): Batch {
  const p = padRows(
    indices.map((i) => data.ids[i]),
    padId,
  );
  const labels = Int32Array.from(indices, (i) => data.labels[i]);
  return {
    inputIds: longTensor(p.ids, [p.rows, p.len], device),
    attentionMask: longTensor(p.mask, [p.rows, p.len], device),
    labels: longTensor(labels, [p.rows], device),
    tokens: p.tokens,
  };
}
