export * from './raw-tensor';
export { readSafetensors, readSafetensorsHeader, readSafetensorsMetadata, parseSafetensors, writeSafetensors, serializeSafetensors, writeFileAtomic } from './safetensors';
export type { SafetensorsContents, TensorDict } from './safetensors';
export { readTorchCheckpoint, parseTorchCheckpoint, unpickle } from './torch-pickle';
export type { UnpickleHooks, PyCallable } from './torch-pickle';
export { loadStateDictFile, loadCheckpointFolder, detectFormat } from './checkpoint';
export type { CheckpointFormat, LoadedCheckpoint } from './checkpoint';
export { resolveModelPath, hubCacheDir, repoFolderName, findCachedSnapshot } from './hub';
export type { ResolveOptions } from './hub';
