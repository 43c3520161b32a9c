// dtype names as PyTorch spells them (without the `torch.` prefix), and libtorch's ScalarType codes.
export type DType =
  'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const CODES: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};
const NAMES: Record<number, DType> = Object.fromEntries(Object.entries(CODES).map(([k, v]) => [v, k as DType]));
const ALIASES: Record<string, DType> = {
  float: 'float32',
  double: 'float64',
  half: 'float16',
  long: 'int64',
  int: 'int32',
  short: 'int16',
  byte: 'uint8',
  char: 'int8',
};

export const ITEMSIZE: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** The canonical name of a dtype given as PyTorch spells it ('float32', 'torch.float32', 'float', ...). */
export function toDType(d: unknown): DType {
  const text = typeof d === 'string' ? d : undefined;
  const name = text?.startsWith('torch.') ? text.slice(6) : text;
  const dtype =
    name === undefined
      ? undefined
      : Object.hasOwn(CODES, name)
        ? (name as DType)
        : Object.hasOwn(ALIASES, name)
          ? ALIASES[name]
          : undefined;
  if (dtype === undefined) {
    const shown =
      typeof d === 'string' ? `'${d.slice(0, 40)}'` : typeof d === 'object' && d !== null ? 'an object' : String(d);
    throw new TypeError(`unknown dtype ${shown}; expected one of ${Object.keys(CODES).join(', ')}`);
  }
  return dtype;
}

export function dtypeCode(d: DType | string): number {
  return CODES[toDType(d)];
}

export function dtypeName(code: number): DType {
  const n = NAMES[code];
  if (!n) throw new Error(`unsupported native dtype code ${code}`);
  return n;
}

export const isFloating = (d: DType) => d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';

export type TypedArray = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array;

export function dtypeOfTypedArray(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  throw new TypeError(`unsupported typed array ${a.constructor.name}`);
}
