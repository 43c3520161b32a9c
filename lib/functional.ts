// torch.nn.functional: stateless functions over tensors.
import { N } from './native';
import type { DType } from './dtype';
import { dtypeCode } from './dtype';
import type { Tensor } from './tensor';
import { wrap, arg } from './tensor';

type Reduction = 'mean' | 'sum' | 'none';
const optional = (t?: Tensor | null) => (t ? arg(t) : -1);

export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return wrap(N.linear(arg(x), arg(weight), optional(bias)));
}
/** bias·beta + alpha·(m1 @ m2) */
export function addmm(bias: Tensor, m1: Tensor, m2: Tensor, opts: { beta?: number; alpha?: number } = {}): Tensor {
  return wrap(N.addmm(arg(bias), arg(m1), arg(m2), opts.beta ?? 1, opts.alpha ?? 1));
}
export const relu = (x: Tensor) => x.relu();
export const gelu = (x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}) => x.gelu(opts.approximate ?? 'none');
export const silu = (x: Tensor) => x.silu();
export const tanh = (x: Tensor) => x.tanh();
export const sigmoid = (x: Tensor) => x.sigmoid();
export function softmax(x: Tensor, dim: number, opts: { dtype?: DType } = {}): Tensor {
  return wrap(N.softmax(arg(x), dim, opts.dtype ? dtypeCode(opts.dtype) : -1));
}
export function logSoftmax(x: Tensor, dim: number, opts: { dtype?: DType } = {}): Tensor {
  return wrap(N.logSoftmax(arg(x), dim, opts.dtype ? dtypeCode(opts.dtype) : -1));
}
export function layerNorm(
  x: Tensor,
  normalizedShape: number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return wrap(N.layerNorm(arg(x), normalizedShape, optional(weight), optional(bias), eps));
}
export function embedding(indices: Tensor, weight: Tensor, opts: { paddingIdx?: number } = {}): Tensor {
  return wrap(N.embedding(arg(weight), arg(indices), opts.paddingIdx ?? -1));
}
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  return wrap(N.dropout(arg(x), p, training));
}
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return wrap(N.oneHot(arg(indices), numClasses));
}

export interface CrossEntropyOptions {
  weight?: Tensor;
  reduction?: Reduction;
  ignoreIndex?: number;
  labelSmoothing?: number;
}
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  return wrap(
    N.crossEntropy(
      arg(logits),
      arg(target),
      optional(opts.weight),
      opts.reduction ?? 'mean',
      opts.ignoreIndex ?? -100,
      opts.labelSmoothing ?? 0,
    ),
  );
}
export function nllLoss(
  logProbs: Tensor,
  target: Tensor,
  opts: Omit<CrossEntropyOptions, 'labelSmoothing'> = {},
): Tensor {
  return wrap(
    N.nllLoss(arg(logProbs), arg(target), optional(opts.weight), opts.reduction ?? 'mean', opts.ignoreIndex ?? -100),
  );
}
export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  return wrap(N.mseLoss(arg(input), arg(target), opts.reduction ?? 'mean'));
}
export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  opts: { reduction?: Reduction } = {},
): Tensor {
  return wrap(N.bceWithLogits(arg(input), arg(target), opts.reduction ?? 'mean'));
}

export interface AttentionOptions {
  attnMask?: Tensor | null;
  dropoutP?: number;
  isCausal?: boolean;
  training?: boolean;
}
/**
 * softmax(q kᵀ/√d + mask) v. Uses libtorch's fused scaled_dot_product_attention where the version has it (2.0+),
 * and the explicit matmul-softmax path otherwise; both give the same result. A bool mask keeps positions that are true.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  return wrap(N.scaledDotProductAttention(...attentionArgs(q, k, v, opts)));
}
/** The explicit matmul-softmax attention, always (for comparison with the fused path). */
export function attentionMatmulSoftmax(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  return wrap(N.attentionMatmulSoftmax(...attentionArgs(q, k, v, opts)));
}
/** The native argument list both attention entry points share. */
function attentionArgs(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions) {
  const dropoutP = opts.dropoutP ?? 0;
  return [
    arg(q),
    arg(k),
    arg(v),
    optional(opts.attnMask),
    dropoutP,
    opts.isCausal ?? false,
    opts.training ?? dropoutP > 0,
  ] as const;
}
