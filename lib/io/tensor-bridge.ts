// Between raw checkpoint records (bytes + dtype + shape) and native tensors.
import type { Tensor } from '../tensor';
import { fromBuffer } from '../creation';
import type { RawTensor, DType } from './raw-tensor';

export function rawToTensor(raw: RawTensor, opts: { device?: string } = {}): Tensor {
  return fromBuffer(raw.data, raw.shape, raw.dtype, { device: opts.device });
}

export function tensorToRaw(t: Tensor): RawTensor {
  return { dtype: t.dtype as DType, shape: t.shape, data: t.bytes() };
}

/** A module's state dict as raw records, each tensor stored once (tied weights keep their first name, as transformers does). */
export function stateDictToRaw(sd: Record<string, Tensor>): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  const seen = new Set<Tensor>();
  for (const [k, t] of Object.entries(sd)) {
    if (seen.has(t)) continue;
    seen.add(t);
    out.set(k, tensorToRaw(t));
  }
  return out;
}
