// The weights file of a PEFT adapter folder: adapter_model.safetensors, or adapter_model.bin (torch.save, written by
// PEFT with safe_serialization=False and by older PEFT by default), read with the safe unpickler.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawTensor } from '../io';
import { readSafetensors, readSafetensorsHeader, readTorchCheckpoint } from '../io';
import type { DType } from '../dtype';

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_WEIGHTS_BIN = 'adapter_model.bin';
/** PEFT prefixes every key with this (PeftModel -> LoraModel -> the model). */
export const KEY_PREFIX = 'base_model.model.';
export const LABELS_KEY = 'torch_lora.labels';
export const SCALING_KEY = 'torch_lora.scaling';

/** The weights file of an adapter folder, safetensors first (as PEFT prefers it). */
export function adapterWeightsFile(dir: string): string {
  for (const name of [ADAPTER_WEIGHTS, ADAPTER_WEIGHTS_BIN]) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`${dir}: no ${ADAPTER_WEIGHTS} or ${ADAPTER_WEIGHTS_BIN}`);
}

export interface AdapterWeights {
  file: string;
  /** Keys as PEFT writes them (base_model.model.<module>.lora_A.weight), whatever the file's spelling. */
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

export function readAdapterWeights(dir: string, adapterName: string): AdapterWeights {
  const file = adapterWeightsFile(dir);
  if (file.endsWith('.bin'))
    return { file, tensors: normalizeKeys(readTorchCheckpoint(file), adapterName, file), metadata: {} };
  const { tensors, metadata } = readSafetensors(file);
  return { file, tensors: normalizeKeys(tensors, adapterName, file), metadata };
}

/** Names, dtypes and shapes only (a safetensors header, or the .bin's pickle, whose storages are small). */
export function readAdapterShapes(
  dir: string,
  adapterName: string,
): { file: string; tensors: Map<string, { dtype: DType; shape: number[] }> } {
  const file = adapterWeightsFile(dir);
  const tensors = file.endsWith('.bin') ? readTorchCheckpoint(file) : readSafetensorsHeader(file).tensors;
  return { file, tensors: normalizeKeys(tensors, adapterName, file) };
}

export function readAdapterMetadata(dir: string): Record<string, string> {
  const file = adapterWeightsFile(dir);
  return file.endsWith('.bin') ? {} : readSafetensorsHeader(file).metadata;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// PEFT writes keys without the adapter name; accept files that kept it ('lora_A.default.weight'), and keys written
// without the PeftModel prefix.
function normalizeKeys<T>(tensors: Map<string, T>, adapterName: string, file: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of tensors) {
    const key = (k.startsWith(KEY_PREFIX) ? k : KEY_PREFIX + k)
      .replace(`.lora_A.${adapterName}.`, '.lora_A.')
      .replace(`.lora_B.${adapterName}.`, '.lora_B.')
      .replace(`.modules_to_save.${adapterName}.`, '.')
      .replace(
        new RegExp(`\\.lora_magnitude_vector\\.${escapeRegExp(adapterName)}\\.weight$`),
        '.lora_magnitude_vector',
      );
    if (out.has(key)) throw new Error(`${file}: '${k}' appears twice (as '${key}')`);
    out.set(key, v);
  }
  return out;
}
