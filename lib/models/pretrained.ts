// Loading and saving Hugging Face checkpoint folders: config.json + model.safetensors / pytorch_model.bin (sharded too).
import * as path from 'node:path';
import type { Tensor } from '../tensor';
import { noGrad } from '../autograd';
import { tidy } from '../scope';
import type { Module } from '../nn/module';
import type { DType } from '../dtype';
import type { RawTensor } from '../io';
import { loadCheckpointFolder, resolveModelPath, writeSafetensors, writeFileAtomic, writeFolderAtomic } from '../io';
import { rawToTensor, stateDictToRaw } from '../io/tensor-bridge';

export interface FromPretrainedOptions {
  numLabels?: number;
  /** Class names by index, as transformers' `id2label` (sets the label count and `label2id` too). */
  id2label?: Record<number, string> | string[];

  dtype?: DType;
  device?: string;
  /** Re-initialise weights whose shape differs from the checkpoint (e.g. a classifier with another label count). */
  ignoreMismatchedSizes?: boolean;
  revision?: string;
  cacheDir?: string;
  offline?: boolean;
  /** No warning about newly initialised weights (they are still listed in `loadingInfo.missingKeys`). */
  quiet?: boolean;
}

export interface LoadingInfo {
  /** Weights the checkpoint lacked, initialised as transformers does (e.g. a new classification head). */
  missingKeys: string[];
  /** Checkpoint tensors the model has no place for (e.g. an MLM head when loading a classifier). */
  unexpectedKeys: string[];
  mismatchedKeys: string[];
  files: string[];
  format: string;
}

export async function resolveCheckpointDir(pathOrId: string, opts: FromPretrainedOptions): Promise<string> {
  return resolveModelPath(pathOrId, { revision: opts.revision, cacheDir: opts.cacheDir, offline: opts.offline });
}

export { readConfigJson } from './config-fields';

/**
 * Copies a checkpoint's tensors into the model. Keys are matched exactly, or with the base-model prefix added or removed
 * (a bare `DistilBertModel` checkpoint into a classifier, or the reverse).
 */
export function loadCheckpointInto(
  model: Module,
  dir: string,
  basePrefix: string,
  opts: FromPretrainedOptions = {},
): LoadingInfo {
  const ckpt = loadCheckpointFolder(dir);
  const own = model.stateDict();
  const source = remapPrefix(ckpt.tensors, Object.keys(own), basePrefix);
  const used = new Set<string>();
  const loaded = new Set<Tensor>();
  const missingKeys: string[] = [];
  const mismatchedKeys: string[] = [];
  const errors: string[] = [];
  // Every name, shape and dtype is checked before any tensor's bytes are read: a checkpoint's tensors are only
  // descriptions until then (see torch-pickle.ts), so a hostile file costs nothing before it is refused.
  const toLoad: [Tensor, RawTensor][] = [];
  for (const [key, target] of Object.entries(own)) {
    const raw = source.get(key);
    if (!raw) {
      missingKeys.push(key);
      continue;
    }
    used.add(key);
    const want = target.shape;
    if (want.length !== raw.shape.length || want.some((d, i) => d !== raw.shape[i])) {
      if (opts.ignoreMismatchedSizes) mismatchedKeys.push(key);
      else errors.push(`size mismatch for ${key}: checkpoint has [${raw.shape}], the model needs [${want}]`);
      continue;
    }
    if (dtypeKind(raw.dtype) !== dtypeKind(target.dtype)) {
      errors.push(`dtype mismatch for ${key}: checkpoint has ${raw.dtype}, the model needs ${target.dtype}`);
      continue;
    }
    toLoad.push([target, raw]);
  }
  if (errors.length) {
    const hint = errors.some((e) => e.startsWith('size mismatch'))
      ? '\n\tPass ignoreMismatchedSizes: true to re-initialise these weights.'
      : '';
    throw new Error(`Error(s) loading ${dir} into ${model.constructor.name}:\n\t${errors.join('\n\t')}${hint}`);
  }
  noGrad(() => {
    for (const [target, raw] of toLoad) {
      tidy(() => target.copy_(rawToTensor(raw)));
      loaded.add(target);
    }
  });
  // A tied weight (vocab_projector.weight = word_embeddings.weight) is loaded through its other name.
  const stillMissing = missingKeys.filter((k) => !loaded.has(own[k]));
  const unexpectedKeys = [...source.keys()].filter((k) => !used.has(k) && !k.endsWith('position_ids'));
  return { missingKeys: stillMissing, unexpectedKeys, mismatchedKeys, files: ckpt.files, format: ckpt.format };
}

// Floating weights load from any floating dtype (an fp16 checkpoint into an fp32 model, as transformers does);
// integer and boolean buffers only from their own kind.
function dtypeKind(dtype: string): 'float' | 'int' | 'bool' {
  return dtype === 'bool' ? 'bool' : /^(float|bfloat)/.test(dtype) ? 'float' : 'int';
}

function remapPrefix(tensors: Map<string, RawTensor>, ownKeys: string[], prefix: string): Map<string, RawTensor> {
  const ownHasPrefix = ownKeys.some((k) => k.startsWith(prefix));
  const ckptHasPrefix = [...tensors.keys()].some((k) => k.startsWith(prefix));
  if (ownHasPrefix === ckptHasPrefix) return tensors;
  const out = new Map<string, RawTensor>();
  for (const [k, v] of tensors) {
    if (ownHasPrefix) out.set(prefix + k, v);
    else if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
    else out.set(k, v);
  }
  return out;
}

/** Writes config.json and model.safetensors so that Python transformers loads the folder; the folder appears whole or not at all. */
export function savePretrained(model: Module, dir: string, config: Record<string, unknown>): void {
  for (const [name, m] of model.namedModules()) {
    const blocker = m.saveBlocker();
    if (blocker !== null) throw new Error(`savePretrained: '${name}' ${blocker}`);
  }
  const full = {
    ...config,
    architectures: [model.constructor.name],
    torch_dtype: model.parameters()[0]?.dtype ?? 'float32',
  };
  writeFolderAtomic(dir, (temp) => {
    writeSafetensors(path.join(temp, 'model.safetensors'), stateDictToRaw(model.stateDict()), { format: 'pt' });
    writeFileAtomic(path.join(temp, 'config.json'), [Buffer.from(JSON.stringify(full, null, 2) + '\n')]);
  });
}
