// Grad mode, as torch.no_grad / torch.enable_grad do it.
import { N } from './native';
import { dtypeCode } from './dtype';

export function isGradEnabled(): boolean {
  return N.isGradEnabled();
}
export function setGradEnabled(enabled: boolean): void {
  N.setGradEnabled(enabled);
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = N.isGradEnabled();
  N.setGradEnabled(enabled);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    N.setGradEnabled(prev);
    throw e;
  }
  if (result instanceof Promise) {
    // Grad mode is per thread, so an await inside would leak the mode into unrelated code.
    N.setGradEnabled(prev);
    throw new Error('noGrad/enableGrad: fn returned a Promise; wrap only synchronous code');
  }
  N.setGradEnabled(prev);
  return result;
}

/** Runs fn without recording operations for autograd. */
export const noGrad = <T>(fn: () => T): T => withGradMode(false, fn);
/** Runs fn with autograd on, also inside noGrad. */
export const enableGrad = <T>(fn: () => T): T => withGradMode(true, fn);

/**
 * Runs fn with autocast (mixed precision) on a device type, like torch.autocast(device_type, dtype=...):
 * matmuls and linears run in `dtype` (bfloat16 by default), precision-sensitive ops stay in float32.
 */
export function autocast<T>(
  deviceType: 'cuda' | 'cpu',
  fn: () => T,
  opts: { dtype?: 'bfloat16' | 'float16'; enabled?: boolean } = {},
): T {
  if (opts.enabled === false) return fn();
  const code = dtypeCode(opts.dtype ?? 'bfloat16');
  N.setAutocast(true, deviceType, code);
  try {
    return fn();
  } finally {
    N.setAutocast(false, deviceType, code);
  }
}
