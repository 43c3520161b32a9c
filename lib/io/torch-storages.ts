// The storages and torch globals of a torch.save state-dict pickle: persistent ids resolved to storages in the zip
// (their bytes read or inflated on first use, within a budget), and the allowlisted globals that rebuild tensors as
// descriptions (dtype, shape, view into a storage). torch-pickle.ts holds the archive-level reading.
import type { DType, RawTensor } from './raw-tensor';
import { ITEMSIZE, fromTorchStorageName, numel } from './raw-tensor';
import { clipText, describeValue } from './describe';
import type { PyCallable } from './unpickle';
import type { ZipEntry } from './zip';
import { zipEntryData } from './zip';

// Deflated storages may inflate, all together, to this many times the archive's size (or MIN_INFLATE_BUDGET).
// Weights barely compress (float32: about 1.1x), and torch.save itself never compresses; a zip bomb reaches 1,000x.
const MAX_INFLATE_RATIO = 16;
const MIN_INFLATE_BUDGET = 64 << 20;
// A weight has a handful of dimensions; a view with more than 64 is not a checkpoint tensor (and would cost work).
const MAX_DIMS = 64;

// Archive errors already name the file; errors from inside the pickle do not.
export function withSource(e: Error, source: string): Error {
  return e.message.startsWith(`${source}: `) ? e : new Error(`${source}: ${e.message}`);
}

interface StorageType {
  kind: 'storageType';
  name: string;
  dtype: DType;
}

/** A storage as the pickle names it; its bytes are read on first use. */
interface Storage {
  kind: 'storage';
  name: string;
  dtype: DType;
  numel: number;
  bytes: () => Buffer;
}

export class StorageLoader {
  private readonly cache = new Map<string, Storage>();
  private inflateBudget: number;

  constructor(
    private readonly buf: Buffer,
    private readonly entries: Map<string, ZipEntry>,
    private readonly prefix: string,
    private readonly source: string,
  ) {
    this.inflateBudget = Math.max(MIN_INFLATE_BUDGET, MAX_INFLATE_RATIO * buf.length);
  }

  /** Resolves a persistent id ('storage', storage_type, key, location, numel). */
  load(pid: unknown): Storage {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new Error(`unsupported persistent id ${describeValue(pid)}`);
    }
    const [, type, key, , count] = pid as [string, unknown, unknown, unknown, unknown];
    if (!isKind<StorageType>(type, 'storageType'))
      throw new Error(`persistent id names ${describeValue(type)}, not a storage type`);
    if (typeof key !== 'string' || !isCount(count)) throw new Error(`bad storage persistent id ${describeValue(pid)}`);
    const cached = this.cache.get(key);
    if (cached) {
      if (cached.dtype !== type.dtype || cached.numel !== count)
        throw new Error(`storage ${cached.name} is described twice, differently`);
      return cached;
    }
    const storage = this.describe(key, type.dtype, count);
    this.cache.set(key, storage);
    return storage;
  }

  // The entry must exist and hold exactly the storage's bytes (torch writes numel * itemsize), checked now;
  // its bytes are taken (a view, or inflated) on first use.
  private describe(key: string, dtype: DType, count: number): Storage {
    const name = `${this.prefix}data/${key}`;
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`storage entry ${name} is missing from the archive`);
    const need = count * ITEMSIZE[dtype];
    if (entry.size !== need)
      throw new Error(`storage ${name} has ${entry.size} bytes, ${count} ${dtype} elements need ${need}`);
    let bytes: Buffer | undefined;
    const read = (): Buffer => {
      if (bytes) return bytes;
      if (entry.method !== 0) {
        if (entry.size > this.inflateBudget) {
          throw new Error(
            `${this.source}: storage ${name} would inflate to ${entry.size} bytes, beyond ${MAX_INFLATE_RATIO} times the archive's size; refusing a likely zip bomb`,
          );
        }
        this.inflateBudget -= entry.size;
      }
      bytes = zipEntryData(this.buf, entry, this.source, need);
      return bytes;
    };
    return { kind: 'storage', name, dtype, numel: count, bytes: read };
  }
}

// UntypedStorage (torch >= 2 for untyped tensors' storages) counts bytes.
const UNTYPED_STORAGE_DTYPE: DType = 'uint8';

export function findTorchGlobal(module: string, name: string, tensors: WeakSet<RawTensor>, source: string): unknown {
  const full = `${module}.${name}`;
  const storageDtype =
    module === 'torch' ? (name === 'UntypedStorage' ? UNTYPED_STORAGE_DTYPE : fromTorchStorageName(name)) : undefined;
  if (storageDtype) return { kind: 'storageType', name: full, dtype: storageDtype } satisfies StorageType;
  const callable = (call: (args: unknown[]) => unknown): PyCallable => ({ kind: 'callable', name: full, call });
  switch (full) {
    case 'collections.OrderedDict':
      return callable((args) => newOrderedDict(args));
    case 'torch._utils._rebuild_tensor_v2':
      return callable((args) => {
        const t = rebuildTensor(args, source);
        tensors.add(t);
        return t;
      });
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return callable((args) => args[0]); // (data, requires_grad, backward_hooks[, state]): the data is the tensor
    default:
      throw new Error(`unsupported pickle global ${clipText(full)}`);
  }
}

function newOrderedDict(args: unknown[]): Map<unknown, unknown> {
  if (args.length > 0) throw new Error('OrderedDict() with arguments is not supported');
  return new Map();
}

/**
 * _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]): the tensor's
 * description now, its bytes on first use of `data`. A view must lie inside its storage and have no more elements
 * than it: a stride-0 view of 4 bytes could otherwise claim gigabytes.
 */
function rebuildTensor(args: unknown[], source: string): RawTensor {
  const [storage, offset, size, stride] = args;
  if (!isKind<Storage>(storage, 'storage'))
    throw new Error(`_rebuild_tensor_v2 got ${describeValue(storage)} for a storage`);
  if (
    !isCount(offset) ||
    !isCountList(size) ||
    !isCountList(stride) ||
    size.length !== stride.length ||
    size.length > MAX_DIMS
  ) {
    throw new Error(`_rebuild_tensor_v2: bad offset/size/stride ${describeValue([offset, size, stride])}`);
  }
  const shape = [...size];
  const strides = [...stride];
  const count = numel(shape);
  const view = `tensor view (offset ${offset}, shape [${shape}], stride [${strides}])`;
  if (count > 0) {
    if (count > storage.numel)
      throw new Error(`${view} has more elements than its storage ${storage.name} (${storage.numel})`);
    const last = shape.reduce((end, dim, i) => end + (dim - 1) * strides[i], offset);
    if (last >= storage.numel)
      throw new Error(`${view} exceeds its storage ${storage.name} of ${storage.numel} elements`);
  }
  let data: Buffer | undefined;
  const tensor = { dtype: storage.dtype, shape } as RawTensor;
  Object.defineProperty(tensor, 'data', {
    enumerable: true,
    get: () => {
      if (!data) {
        try {
          data =
            count === 0
              ? Buffer.alloc(0)
              : contiguousBytes(storage.bytes(), ITEMSIZE[storage.dtype], offset, shape, strides);
        } catch (e) {
          throw withSource(e as Error, source);
        }
      }
      return data;
    },
  });
  return tensor;
}

/** The C-contiguous bytes of a strided view into a storage's bytes; a view of them when already contiguous. */
function contiguousBytes(bytes: Buffer, itemsize: number, offset: number, shape: number[], stride: number[]): Buffer {
  if (isContiguous(shape, stride)) return bytes.subarray(offset * itemsize, (offset + numel(shape)) * itemsize);
  return gatherStrided(bytes, itemsize, offset, shape, stride);
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

// Walks the view in C order, copying runs of the innermost dimension when it is unit-strided.
function gatherStrided(src: Buffer, itemsize: number, offset: number, shape: number[], stride: number[]): Buffer {
  const out = Buffer.allocUnsafe(numel(shape) * itemsize);
  const ndim = shape.length;
  const run = stride[ndim - 1] === 1 ? shape[ndim - 1] : 1;
  const outer = run === 1 ? shape : shape.slice(0, -1);
  const index = new Array<number>(outer.length).fill(0);
  let at = offset;
  for (let written = 0; written < out.length; written += run * itemsize) {
    src.copy(out, written, at * itemsize, (at + run) * itemsize);
    for (let d = outer.length - 1; d >= 0; d--) {
      at += stride[d];
      if (++index[d] < outer[d]) break;
      at -= stride[d] * outer[d];
      index[d] = 0;
    }
  }
  return out;
}

function isKind<T extends { kind: string }>(v: unknown, kind: T['kind']): v is T {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === kind;
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isCountList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isCount);
}
