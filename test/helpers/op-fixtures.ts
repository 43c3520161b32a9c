// Reads test/fixtures/ops.json or ops.torch2.json (written by tools/make_op_fixtures.py from PyTorch 1.x / 2.x) and compares tensors with it.
import { readFixture } from './fixture-file';
import * as torch from '../../lib';
import type { DType, Tensor } from '../../lib';

export type Value = number | boolean | string;
export interface Encoded {
  shape: number[];
  dtype: DType;
  values: Value[];
  requiresGrad?: boolean;
}
export interface CaseInput {
  ref: number;
  requiresGrad: boolean;
}
export interface OpCase {
  name: string;
  op: string;
  args: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  inputs: CaseInput[];
  outputs: Encoded[];
  weights?: (Encoded | null)[];
  grads?: (Encoded | null)[];
}
export interface ReprCase extends Partial<Encoded> {
  name: string;
  repr: string;
  shape: number[];
  dtype: DType;
  base64?: string;
  then?: string;
}
export interface Fixture {
  torch: string;
  tensors: Encoded[];
  cases: OpCase[];
  reprs: ReprCase[];
  random: {
    seed: number;
    sequence: {
      fn: 'randn' | 'rand' | 'randint';
      shape: number[];
      low?: number;
      high?: number;
      dtype?: DType;
      values: Value[];
    }[];
  };
  dtypes: Record<
    string,
    { source: number[]; converted: Encoded; backToFloat64: number[]; itemSize: number; bytes: number[] }
  >;
  creation: { fn: string; args: (number | boolean | number[])[]; opts?: { dtype?: DType }; out: Encoded }[];
  tensorFromNumbers: { values: number[]; dtype: DType; out: Encoded }[];
  autograd: ({ name: string; x: Encoded; grad: Encoded } & Record<string, Encoded | string>)[];
}

let cached: Fixture | null = null;
export function fixture(): Fixture {
  if (!cached) cached = readFixture<Fixture>('ops');
  return cached;
}

/** JSON has no NaN/Infinity: the generator writes them as strings. */
export function decode(v: Value): number {
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return Number(v);
}

function typed(values: number[], dtype: DType): ArrayBufferView {
  switch (dtype) {
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(values, (v) => BigInt(v));
    case 'int32':
      return Int32Array.from(values);
    case 'int16':
      return Int16Array.from(values);
    case 'int8':
      return Int8Array.from(values);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values);
    default:
      return Float32Array.from(values); // float32, and float16/bfloat16 before their conversion
  }
}

/** The exact element PyTorch wrote (float32 values are stored with 9 significant digits; fround restores them). */
export function exact(v: Value, dtype: DType): number | boolean {
  if (typeof v === 'boolean') return v;
  const d = decode(v);
  return dtype === 'float32' ? Math.fround(d) : d;
}

/** The constructor name of a TypedArray: the addon makes them in Node's main realm, not in jest's sandbox,
 *  so `instanceof Float32Array` is false there. */
export const arrayKind = (a: unknown) => Object.prototype.toString.call(a).slice(8, -1);

/** Builds the tensor PyTorch used, from its exact values (through fromBuffer, independent of `tensor()`). */
export function make(e: Encoded | ReprCase, requiresGrad = false): Tensor {
  const half = e.dtype === 'float16' || e.dtype === 'bfloat16';
  let t: Tensor;
  if ((e as ReprCase).base64 !== undefined) {
    t = torch.fromBuffer(Buffer.from((e as ReprCase).base64!, 'base64'), e.shape, e.dtype);
  } else {
    const values = e.values!.map(decode);
    t = torch.fromBuffer(typed(values, e.dtype), e.shape, half ? 'float32' : e.dtype, {
      requiresGrad: requiresGrad && !half,
    });
  }
  if (half) {
    const h = t.to(e.dtype);
    t.dispose();
    if (requiresGrad) h.requiresGrad_(true);
    return h;
  }
  return t;
}

export function tolerance(dtype: DType): { rtol: number; atol: number } {
  switch (dtype) {
    case 'float64':
      return { rtol: 1e-10, atol: 1e-12 };
    case 'float16':
    case 'bfloat16':
      return { rtol: 1e-2, atol: 1e-3 };
    case 'float32':
      return { rtol: 1e-5, atol: 1e-6 };
    default:
      return { rtol: 0, atol: 0 };
  }
}

/** Shape, dtype and every element of `actual` against PyTorch's, float elements within the dtype's tolerance. */
export function expectMatches(actual: Tensor, expected: Encoded, what = 'tensor'): void {
  expect({ what, shape: actual.shape, dtype: actual.dtype }).toEqual({
    what,
    shape: expected.shape,
    dtype: expected.dtype,
  });
  const got = Array.from(actual.dataSync() as ArrayLike<number | bigint>, Number);
  const want = expected.values.map(decode);
  expect(got.length).toBe(want.length);
  const { rtol, atol } = tolerance(expected.dtype);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    const ok = Number.isNaN(w) ? Number.isNaN(g) : g === w || Math.abs(g - w) <= atol + rtol * Math.abs(w);
    if (!ok && bad.length < 5) bad.push(`[${i}] got ${g}, PyTorch ${w}`);
  }
  expect({ what, mismatches: bad }).toEqual({ what, mismatches: [] });
}
