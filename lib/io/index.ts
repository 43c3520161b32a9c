export * from './raw-tensor';
export {
  readSafetensors,
  readSafetensorsHeader,
  readSafetensorsMetadata,
  parseSafetensors,
  writeSafetensors,
  serializeSafetensors,
} from './safetensors';
export { writeFileAtomic, writeFolderAtomic, recoverFolder, errorNamingFile } from './fs-atomic';
export type { SafetensorsContents, TensorDict } from './safetensors';
export { readTorchCheckpoint, parseTorchCheckpoint } from './torch-pickle';
export { unpickle, DEFAULT_UNPICKLE_LIMITS } from './unpickle';
export { describeValue } from './describe';
export type { UnpickleHooks, UnpickleLimits, PyCallable } from './unpickle';
export { loadStateDictFile, loadCheckpointFolder, detectFormat } from './checkpoint';
export type { CheckpointFormat, LoadedCheckpoint } from './checkpoint';
export { resolveModelPath, findCachedModelPath, hubCacheDir, repoFolderName, findCachedSnapshot } from './hub';
export type { ResolveOptions } from './hub';
