// The weight files of a Hugging Face model folder, one table for the reader (checkpoint.ts) and the hub download
// (hub.ts), which each kept a copy of the list and of the shard-index parsing before issue 13.
import * as fs from 'node:fs';
import * as path from 'node:path';

export type CheckpointFormat = 'safetensors' | 'torch';

export interface WeightFile {
  file: string;
  format: CheckpointFormat;
  sharded: boolean;
}

/** In the order transformers prefers them; an index (sharded) names its shards in "weight_map". */
export const WEIGHT_FILES: readonly WeightFile[] = [
  { file: 'model.safetensors', format: 'safetensors', sharded: false },
  { file: 'model.safetensors.index.json', format: 'safetensors', sharded: true },
  { file: 'pytorch_model.bin', format: 'torch', sharded: false },
  { file: 'pytorch_model.bin.index.json', format: 'torch', sharded: true },
];

/** A shard index's {"weight_map": {tensor name: shard file}}, every shard a file of the index's own folder. */
export function readWeightMap(indexFile: string): Record<string, string> {
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (e) {
    throw new Error(`${indexFile}: cannot read the shard index (${(e as Error).message})`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new Error(`${indexFile}: no "weight_map" object`);
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string') throw new Error(`${indexFile}: shard of '${name}' is not a file name`);
    // Shards live in the folder itself: an index must not point elsewhere (nor make a download write elsewhere).
    const dir = path.resolve(path.dirname(indexFile));
    if (shard === '' || path.dirname(path.resolve(dir, shard)) !== dir)
      throw new Error(`${indexFile}: shard '${shard}' is outside the folder`);
  }
  return weightMap as Record<string, string>;
}

/** The distinct shard files an index names, in first-mention order. */
export function shardFiles(indexFile: string): string[] {
  return [...new Set(Object.values(readWeightMap(indexFile)))];
}
