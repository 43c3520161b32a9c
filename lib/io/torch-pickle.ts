// Reads PyTorch's torch.save zip format (pytorch_model.bin) without Python: a ZIP archive holding
// `<prefix>/data.pkl` (a pickle of the state dict whose tensors point at storages through persistent ids)
// and one `<prefix>/data/<key>` entry of raw little-endian bytes per storage.
//
// The unpickler resolves only an allowlist of globals, so a malicious file cannot run code, only fail to load.
// Reading the pickle builds only the tensors' descriptions (dtype, shape, view into a storage): a tensor's bytes
// are read, inflated or gathered from a strided view the first time its `data` is asked for, so a caller checks
// names, shapes and dtypes against its model before any of that work is done, and what it never asks for costs
// nothing.
import type { RawTensor } from './raw-tensor';
import { readWholeFile } from './read-file';
import { describeValue } from './describe';
import { unpickle } from './unpickle';
import type { ZipEntry } from './zip';
import { isZip, readZipDirectory, zipEntryData } from './zip';
import { StorageLoader, findTorchGlobal, withSource } from './torch-storages';

export { isZip } from './zip';

// A state dict's pickle is about 200 bytes per tensor; 64 MiB is 300,000 tensors.
const MAX_PICKLE_BYTES = 64 << 20;

/** Reads a torch.save zip checkpoint holding a flat state dict {name: tensor}. */
export function readTorchCheckpoint(file: string): Map<string, RawTensor> {
  return parseTorchCheckpoint(readWholeFile(file), file);
}

/**
 * Parses torch.save zip bytes; `source` names the input in error messages. Each tensor's `data` is read when first
 * used (and errors then name `source` too).
 */
export function parseTorchCheckpoint(buf: Buffer, source = '<buffer>'): Map<string, RawTensor> {
  if (!isZip(buf)) {
    const legacy =
      buf[0] === 0x80 ? ' (it looks like the legacy pre-1.6 torch.save format, which is not supported)' : '';
    throw new Error(`${source}: not a torch zip checkpoint${legacy}`);
  }
  const entries = readZipDirectory(buf, source);
  const pickleName = findDataPkl(entries, source);
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  checkByteOrder(buf, entries, prefix, source);
  const storages = new StorageLoader(buf, entries, prefix, source);
  const tensors = new WeakSet<RawTensor>();
  let root: unknown;
  try {
    const pickle = zipEntryData(buf, entries.get(pickleName)!, source, MAX_PICKLE_BYTES);
    if (pickle.length > MAX_PICKLE_BYTES)
      throw new Error(`${pickleName} is ${pickle.length} bytes, more than the ${MAX_PICKLE_BYTES} a state dict needs`);
    root = unpickle(pickle, {
      findGlobal: (module, name) => findTorchGlobal(module, name, tensors, source),
      persistentLoad: (pid) => storages.load(pid),
    });
  } catch (e) {
    throw withSource(e as Error, source);
  }
  return toStateDict(root, tensors, source);
}

function findDataPkl(entries: Map<string, ZipEntry>, source: string): string {
  const candidates = [...entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (candidates.length === 0) throw new Error(`${source}: no data.pkl in the archive; not a torch.save checkpoint`);
  return candidates.reduce((a, b) => (b.length < a.length ? b : a));
}

// Torch >= 2.1 records the byte order of the storages; older archives are always little-endian.
function checkByteOrder(buf: Buffer, entries: Map<string, ZipEntry>, prefix: string, source: string): void {
  const entry = entries.get(`${prefix}byteorder`);
  const order = entry ? zipEntryData(buf, entry, source, 16).toString('latin1').trim() : 'little';
  if (order !== 'little')
    throw new Error(`${source}: storages are ${describeValue(order)}-endian; only little-endian is supported`);
}

function toStateDict(root: unknown, tensors: WeakSet<RawTensor>, source: string): Map<string, RawTensor> {
  if (!(root instanceof Map)) throw new Error(`${source}: the pickled object is not a dict, so not a state dict`);
  const out = new Map<string, RawTensor>();
  for (const [key, value] of root) {
    if (typeof key !== 'string') throw new Error(`${source}: state dict key ${describeValue(key)} is not a string`);
    if (!tensors.has(value as RawTensor)) {
      throw new Error(
        `${source}: state dict entry ${describeValue(key)} is not a tensor; only flat {name: tensor} dicts are supported`,
      );
    }
    out.set(key, value as RawTensor);
  }
  return out;
}
