// torch.nn.utils
import { N } from '../native';
import type { Tensor } from '../tensor';

/** Scales gradients in place so that their joint norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm_(parameters: Tensor[] | Iterable<Tensor>, maxNorm: number, normType = 2): number {
  return N.clipGradNorm(
    [...parameters].map((p) => p._h),
    maxNorm,
    normType,
  );
}
