// Batch encoding straight to int64 tensors (kept apart from the tokenizer so that it loads without the native addon).
import type { Tensor } from '../tensor';
import { fromBuffer } from '../creation';
import type { BatchEncodeOptions } from './tokenizer';

export interface TensorEncoding {
  inputIds: Tensor;
  attentionMask: Tensor;
}

/** tokenizer(texts, padding=..., truncation=..., return_tensors='pt'): [batch, len] int64 ids and mask. */
export function encodeBatchToTensors(
  tokenizer: {
    encodeBatch(texts: string[], opts?: BatchEncodeOptions): { inputIds: number[][]; attentionMask: number[][] };
  },
  texts: string[],
  opts: BatchEncodeOptions & { device?: string } = {},
): TensorEncoding {
  const { device, ...encodeOpts } = opts;
  const enc = tokenizer.encodeBatch(texts, encodeOpts);
  const len = enc.inputIds[0]?.length ?? 0;
  const toTensor = (rows: number[][]) => {
    const flat = new BigInt64Array(rows.length * len);
    rows.forEach((r, i) => r.forEach((v, j) => (flat[i * len + j] = BigInt(v))));
    return fromBuffer(flat, [rows.length, len], 'int64', { device });
  };
  return { inputIds: toTensor(enc.inputIds), attentionMask: toTensor(enc.attentionMask) };
}
