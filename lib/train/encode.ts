// Tokenizing a labelled dataset once, and turning index lists into padded batch tensors.
import { Tensor } from '../tensor';
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

export function encodeExamples(tokenizer: TokenizerLike, examples: readonly TextExample[], maxLength: number): EncodedExamples {
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

/** Pads the chosen examples to the longest among them; int64 tensors on `device`. */
export function collate(data: EncodedExamples, indices: readonly number[], padId: number, device = 'cpu'): Batch {
  const len = Math.max(...indices.map((i) => data.ids[i].length));
  const ids = new Int32Array(indices.length * len).fill(padId);
  const mask = new Int32Array(indices.length * len);
  let tokens = 0;
  indices.forEach((ex, row) => {
    const seq = data.ids[ex];
    ids.set(seq, row * len);
    mask.fill(1, row * len, row * len + seq.length);
    tokens += seq.length;
  });
  const labels = Int32Array.from(indices, (i) => data.labels[i]);
  const toLong = (a: Int32Array, shape: number[]) => {
    const t = fromBuffer(a, shape, 'int32');
    const out = t.to({ dtype: 'int64', device });
    t.dispose();
    return out;
  };
  return { inputIds: toLong(ids, [indices.length, len]), attentionMask: toLong(mask, [indices.length, len]), labels: toLong(labels, [indices.length]), tokens };
}
