// The tensor-library-independent unit of exchange for checkpoint files: a dtype, a shape and the raw
// little-endian, C-contiguous bytes.

import type { DType } from '../dtype';
import { ITEMSIZE } from '../dtype';

export type { DType };
export { ITEMSIZE };

export interface RawTensor {
  dtype: DType;
  shape: number[];
  /** Little-endian, C-contiguous bytes, exactly numel * itemsize long. */
  data: Buffer;
}

export const DTYPES: readonly DType[] = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
];

const SAFETENSORS_NAMES: Readonly<Record<DType, string>> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

const TORCH_STORAGE_NAMES: Readonly<Record<DType, string>> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

const invert = (table: Readonly<Record<DType, string>>): ReadonlyMap<string, DType> =>
  new Map(DTYPES.map((d) => [table[d], d]));

const FROM_SAFETENSORS = invert(SAFETENSORS_NAMES);
const FROM_TORCH_STORAGE = invert(TORCH_STORAGE_NAMES);

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function toSafetensorsDType(dtype: DType): string {
  return SAFETENSORS_NAMES[dtype];
}

/** The DType for a safetensors dtype string ('F32', 'BF16', ...), or undefined when unsupported. */
export function fromSafetensorsDType(name: string): DType | undefined {
  return FROM_SAFETENSORS.get(name);
}

export function toTorchStorageName(dtype: DType): string {
  return TORCH_STORAGE_NAMES[dtype];
}

/** The DType for a torch storage class name ('FloatStorage', ...), or undefined when unsupported. */
export function fromTorchStorageName(name: string): DType | undefined {
  return FROM_TORCH_STORAGE.get(name);
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

export function byteLength(dtype: DType, shape: readonly number[]): number {
  return numel(shape) * ITEMSIZE[dtype];
}

/** Throws when the record's shape is not a list of non-negative integers or its byte length is wrong. */
export function assertRawTensor(t: RawTensor, name: string): void {
  if (!isDType(t.dtype)) throw new Error(`tensor '${name}': unknown dtype ${JSON.stringify(t.dtype)}`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`tensor '${name}': invalid shape ${JSON.stringify(t.shape)}`);
  }
  const expected = byteLength(t.dtype, t.shape);
  if (t.data.length !== expected) {
    throw new Error(
      `tensor '${name}': ${t.dtype}${JSON.stringify(t.shape)} needs ${expected} bytes, data has ${t.data.length}`,
    );
  }
}
