// Loading a state dict from a single weights file or from a Hugging Face checkpoint folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawTensor } from './raw-tensor';
import { parseSafetensors } from './safetensors';
import { parseTorchCheckpoint } from './torch-pickle';
import { isZip } from './zip';
import { readWholeFile } from './read-file';
import type { CheckpointFormat } from './hf-weight-files';
import { WEIGHT_FILES, readWeightMap } from './hf-weight-files';

export type { CheckpointFormat } from './hf-weight-files';

export interface LoadedCheckpoint {
  tensors: Map<string, RawTensor>;
  /** The weight files read, absolute (the shards, for a sharded checkpoint). */
  files: string[];
  format: CheckpointFormat;
}

/** Reads a .safetensors file or a torch.save zip checkpoint, recognised by its first bytes or extension. */
export function loadStateDictFile(file: string): Map<string, RawTensor> {
  const buf = readWholeFile(file);
  return detectFormat(file, buf) === 'safetensors'
    ? parseSafetensors(buf, file).tensors
    : parseTorchCheckpoint(buf, file);
}

export function detectFormat(file: string, head: Buffer): CheckpointFormat {
  if (isZip(head)) return 'torch';
  if (file.endsWith('.safetensors') || looksLikeSafetensors(head)) return 'safetensors';
  return 'torch'; // the torch reader explains what is wrong with anything else
}

// A u64 header length, then the JSON header's opening brace.
function looksLikeSafetensors(head: Buffer): boolean {
  return head.length >= 9 && head[8] === 0x7b && head.readBigUInt64LE(0) <= BigInt(head.length - 8);
}

/** Loads the weights of a Hugging Face model folder. */
export function loadCheckpointFolder(dir: string): LoadedCheckpoint {
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dir}: not a directory`);
  const found = WEIGHT_FILES.find((c) => fs.existsSync(path.join(dir, c.file)));
  if (!found) {
    throw new Error(`${dir}: no checkpoint found; looked for ${WEIGHT_FILES.map((c) => c.file).join(', ')}`);
  }
  const file = path.resolve(dir, found.file);
  if (found.sharded) return { ...loadSharded(file), format: found.format };
  return { tensors: loadStateDictFile(file), files: [file], format: found.format };
}

/** A sharded checkpoint: an index {"weight_map": {tensor name: shard file}} next to the shards. */
function loadSharded(indexFile: string): { tensors: Map<string, RawTensor>; files: string[] } {
  const weightMap = readWeightMap(indexFile);
  const dir = path.dirname(indexFile);
  const shards = new Map<string, Map<string, RawTensor>>();
  for (const shard of new Set(Object.values(weightMap))) {
    shards.set(shard, loadStateDictFile(path.join(dir, shard)));
  }
  const tensors = new Map<string, RawTensor>();
  for (const [name, shard] of Object.entries(weightMap)) {
    const tensor = shards.get(shard)!.get(name);
    if (!tensor) throw new Error(`${indexFile}: '${name}' should be in ${shard} but is not`);
    tensors.set(name, tensor);
  }
  return { tensors, files: [...shards.keys()].map((s) => path.join(dir, s)) };
}
