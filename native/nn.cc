// Neural-network functions: linear layers (LoRA's fused form too), activations, normalisation, attention, losses.
#include "common.h"

#include "compat.h"

#include <cmath>
#include <limits>


namespace tl {

namespace {

using Info = Napi::CallbackInfo;

// (x, w, b?)
Napi::Value linear(const Info& info) { return wrap(info.Env(), at::linear(tensorArg(info, 0), tensorArg(info, 1), optTensorArg(info, 2))); }

// LinearWithLoRA's forward, y = x Wᵀ + b + scaling · ((dropout(x) A) B), in one native call.
// (x, w, b?, A [in, r], B [r, out], scaling, dropoutP, train)
Napi::Value loraLinear(const Info& info) {
  auto& x = tensorArg(info, 0);
  auto y = at::linear(x, tensorArg(info, 1), optTensorArg(info, 2));
  auto& A = tensorArg(info, 3);
  auto& B = tensorArg(info, 4);
  double scaling = numberArg(info, 5);
  double p = hasArg(info, 6) ? numberArg(info, 6) : 0.0;
  auto xin = (p > 0 && boolArg(info, 7)) ? at::dropout(x, p, true) : x;
  return wrap(info.Env(), y.add_(at::matmul(at::matmul(xin, A), B), scaling));
}

// (x, approximate: 'none' | 'tanh')
Napi::Value gelu(const Info& info) {
  std::string approx = hasArg(info, 1) ? stringArg(info, 1) : "none";
  return wrap(info.Env(), at::gelu(tensorArg(info, 0), approx));
}
// (x, dim, dtype?)
Napi::Value softmax(const Info& info) { return wrap(info.Env(), at::softmax(tensorArg(info, 0), intArg(info, 1), optDtypeArg(info, 2))); }
Napi::Value logSoftmax(const Info& info) { return wrap(info.Env(), at::log_softmax(tensorArg(info, 0), intArg(info, 1), optDtypeArg(info, 2))); }
// (x, normalizedShape, w?, b?, eps)
Napi::Value layerNorm(const Info& info) {
  return wrap(info.Env(), at::layer_norm(tensorArg(info, 0), intListArg(info, 1), optTensorArg(info, 2), optTensorArg(info, 3),
                                         hasArg(info, 4) ? numberArg(info, 4) : 1e-5));
}
// (weight, indices, paddingIdx)
Napi::Value embedding(const Info& info) {
  int64_t padding = hasArg(info, 2) ? intArg(info, 2) : -1;
  return wrap(info.Env(), at::embedding(tensorArg(info, 0), tensorArg(info, 1), padding));
}
// (x, p, train)
Napi::Value dropout(const Info& info) {
  double p = numberArg(info, 1);
  if (p < 0 || p > 1) throw ArgError("dropout probability has to be between 0 and 1, but got " + std::to_string(p));
  return wrap(info.Env(), at::dropout(tensorArg(info, 0), p, boolArg(info, 2)));
}

int64_t reductionArg(const Info& info, size_t i) {
  if (!hasArg(info, i)) return at::Reduction::Mean;
  std::string r = stringArg(info, i);
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  throw ArgError("reduction must be 'mean', 'sum' or 'none', got '" + r + "'");
}
// (logits, target, weight?, reduction, ignoreIndex, labelSmoothing)
Napi::Value crossEntropy(const Info& info) {
  return wrap(info.Env(), at::cross_entropy_loss(tensorArg(info, 0), tensorArg(info, 1), optTensorArg(info, 2), reductionArg(info, 3),
                                                 hasArg(info, 4) ? intArg(info, 4) : -100, hasArg(info, 5) ? numberArg(info, 5) : 0.0));
}
// (logProbs, target, weight?, reduction, ignoreIndex)
Napi::Value nllLoss(const Info& info) {
  return wrap(info.Env(), at::nll_loss_nd(tensorArg(info, 0), tensorArg(info, 1), optTensorArg(info, 2), reductionArg(info, 3),
                                          hasArg(info, 4) ? intArg(info, 4) : -100));
}
// (input, target, reduction)
Napi::Value mseLoss(const Info& info) { return wrap(info.Env(), at::mse_loss(tensorArg(info, 0), tensorArg(info, 1), reductionArg(info, 2))); }
Napi::Value bceWithLogits(const Info& info) {
  return wrap(info.Env(), at::binary_cross_entropy_with_logits(tensorArg(info, 0), tensorArg(info, 1), c10::nullopt, c10::nullopt, reductionArg(info, 2)));
}

// softmax(q kᵀ / √d + mask) v. A boolean mask keeps the positions where it is true (PyTorch's SDPA convention);
// a floating mask is added to the scores.
// Masks become one additive bias (0 / -inf, as small as the mask) added to the scores in place: masked_fill makes a
// new scores tensor and masks the gradient again backward; an in-place add does neither (attention fwd+bwd at
// 8x12x128x128, one thread: 22.7 -> 20.1 ms, bench/attention-time.ts). matmul keeps its inputs, not its output, for
// backward, so the in-place add is safe.
// Which key positions each query may see under causal attention: [L, S], true on and below the diagonal.
at::Tensor causalKeep(const at::Tensor& q, const at::Tensor& k) {
  return at::ones({q.size(-2), k.size(-2)}, q.options().dtype(at::kBool)).tril();
}

at::Tensor attentionExplicit(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const c10::optional<at::Tensor>& mask,
                             double dropoutP, bool causal, bool train) {
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = at::matmul(q * scale, k.transpose(-2, -1));
  const double inf = std::numeric_limits<double>::infinity();
  c10::optional<at::Tensor> bias;
  if (causal) {
    auto keep = causalKeep(q, k);
    bias = at::zeros(keep.sizes(), scores.options()).masked_fill_(keep.logical_not(), -inf);
  }
  if (mask) {
    auto m = mask->scalar_type() == at::kBool ? at::zeros(mask->sizes(), scores.options()).masked_fill_(mask->logical_not(), -inf) : *mask;
    bias = bias ? at::add(*bias, m) : m;
  }
  if (bias) {
    if (at::infer_size(scores.sizes(), bias->sizes()) == scores.sizes()) scores.add_(*bias);
    else scores = scores + *bias;
  }
  auto probs = at::softmax(scores, -1);
  if (dropoutP > 0 && train) probs = at::dropout(probs, dropoutP, true);
  return at::matmul(probs, v);
}

// (q, k, v, mask?, dropoutP, isCausal, train)
Napi::Value scaledDotProductAttention(const Info& info) {
  auto& q = tensorArg(info, 0);
  auto& k = tensorArg(info, 1);
  auto& v = tensorArg(info, 2);
  auto mask = optTensorArg(info, 3);
  double p = hasArg(info, 4) ? numberArg(info, 4) : 0.0;
  bool causal = boolArg(info, 5);
  bool train = boolArg(info, 6);
#if TL_HAS_SDPA
  // On the CPU in bfloat16/float16, libtorch's fused kernel computes in float32 inside and loses to two reduced-
  // precision matmuls and a softmax: 8x12x128x64, one thread, PyTorch 2.13, AVX512-BF16 EPYC: forward 7.2 vs 5.0 ms,
  // forward+backward 42.8 vs 12.7 ms (in float32 the fused kernel wins, 24.9 vs 26.2 ms).
  if (q.device().is_cpu() && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf)) {
    return wrap(info.Env(), attentionExplicit(q, k, v, mask, p, causal, train));
  }
  if (causal && mask) {
    // A mask and causality together: one mask (PyTorch >= 2.14 refuses an explicit mask with is_causal=True).
    auto keep = causalKeep(q, k);
    mask = mask->scalar_type() == at::kBool ? mask->logical_and(keep)
                                             : mask->masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
    causal = false;
  }
  return wrap(info.Env(), at::scaled_dot_product_attention(q, k, v, mask, train ? p : 0.0, causal));
#else
  return wrap(info.Env(), attentionExplicit(q, k, v, mask, p, causal, train));
#endif
}
Napi::Value attentionMatmulSoftmax(const Info& info) {
  return wrap(info.Env(), attentionExplicit(tensorArg(info, 0), tensorArg(info, 1), tensorArg(info, 2), optTensorArg(info, 3),
                                            hasArg(info, 4) ? numberArg(info, 4) : 0.0, boolArg(info, 5), boolArg(info, 6)));
}
Napi::Value hasFusedAttention(const Info& info) { return Napi::Boolean::New(info.Env(), TL_HAS_SDPA); }

}  // namespace

void registerNN(Napi::Env env, Napi::Object exports) {
  TL_EXPORT(exports, "linear", linear);
  TL_EXPORT(exports, "loraLinear", loraLinear);
  TL_EXPORT(exports, "gelu", gelu);
  TL_EXPORT(exports, "softmax", softmax);
  TL_EXPORT(exports, "logSoftmax", logSoftmax);
  TL_EXPORT(exports, "layerNorm", layerNorm);
  TL_EXPORT(exports, "embedding", embedding);
  TL_EXPORT(exports, "dropout", dropout);
  TL_EXPORT(exports, "crossEntropy", crossEntropy);
  TL_EXPORT(exports, "nllLoss", nllLoss);
  TL_EXPORT(exports, "mseLoss", mseLoss);
  TL_EXPORT(exports, "bceWithLogits", bceWithLogits);
  TL_EXPORT(exports, "scaledDotProductAttention", scaledDotProductAttention);
  TL_EXPORT(exports, "attentionMatmulSoftmax", attentionMatmulSoftmax);
  TL_EXPORT(exports, "hasFusedAttention", hasFusedAttention);
}

}  // namespace tl
