// Neural-network functions: linear layers (LoRA's fused form too), activations, normalisation, attention, losses.
#include "bind.h"
#include "common.h"

#include "compat.h"

#include <cmath>
#include <limits>


namespace tl {

namespace {

// A loss's reduction: 'mean' (also when absent), 'sum' or 'none' (at::Reduction).
struct Reduction {
  int64_t value;
};

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

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, c10::optional<at::Tensor> mask, double p, bool causal,
                     bool train) {
#if TL_HAS_SDPA
  // On the CPU in bfloat16/float16, libtorch's fused kernel computes in float32 inside and loses to two reduced-
  // precision matmuls and a softmax: 8x12x128x64, one thread, PyTorch 2.13, AVX512-BF16 EPYC: forward 7.2 vs 5.0 ms,
  // forward+backward 42.8 vs 12.7 ms (in float32 the fused kernel wins, 24.9 vs 26.2 ms).
  if (q.device().is_cpu() && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf)) {
    return attentionExplicit(q, k, v, mask, p, causal, train);
  }
  if (causal && mask) {
    // A mask and causality together: one mask (PyTorch >= 2.14 refuses an explicit mask with is_causal=True).
    auto keep = causalKeep(q, k);
    mask = mask->scalar_type() == at::kBool ? mask->logical_and(keep)
                                             : mask->masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
    causal = false;
  }
  return at::scaled_dot_product_attention(q, k, v, mask, train ? p : 0.0, causal);
#else
  return attentionExplicit(q, k, v, mask, p, causal, train);
#endif
}
}  // namespace

namespace bound {
// The reader for a Reduction parameter (native/bind.h picks readers by type).
template <>
struct Reader<Reduction> {
  static Reduction read(const Napi::CallbackInfo& info, size_t i) {
    if (!hasArg(info, i)) return {at::Reduction::Mean};
    std::string r = stringArg(info, i);
    if (r == "mean") return {at::Reduction::Mean};
    if (r == "sum") return {at::Reduction::Sum};
    if (r == "none") return {at::Reduction::None};
    throw ArgError("reduction must be 'mean', 'sum' or 'none', got '" + r + "'");
  }
};
}  // namespace bound

void registerNN(Napi::Env env, Napi::Object exports) {
  using T = at::Tensor;
  using OptT = c10::optional<at::Tensor>;
  using OptNumber = c10::optional<double>;
  TL_BIND(exports, "linear", [](T& x, T& w, OptT b) { return at::linear(x, w, b); });
  // LinearWithLoRA's forward, y = x Wᵀ + b + scaling · ((dropout(x) A) B), in one native call. A is [in, r], B [r, out].
  TL_BIND(exports, "loraLinear", [](T& x, T& w, OptT b, T& A, T& B, double scaling, OptNumber dropoutP, bool train) {
    auto y = at::linear(x, w, b);
    double p = dropoutP.value_or(0.0);
    auto xin = (p > 0 && train) ? at::dropout(x, p, true) : x;
    return y.add_(at::matmul(at::matmul(xin, A), B), scaling);
  });
  TL_BIND(exports, "gelu", [](T& x, c10::optional<std::string> approximate) { return at::gelu(x, approximate.value_or("none")); });
  TL_BIND(exports, "softmax", [](T& x, int64_t dim, c10::optional<at::ScalarType> dtype) { return at::softmax(x, dim, dtype); });
  TL_BIND(exports, "logSoftmax", [](T& x, int64_t dim, c10::optional<at::ScalarType> dtype) { return at::log_softmax(x, dim, dtype); });
  TL_BIND(exports, "layerNorm", [](T& x, std::vector<int64_t> normalizedShape, OptT w, OptT b, OptNumber eps) {
    return at::layer_norm(x, normalizedShape, w, b, eps.value_or(1e-5));
  });
  TL_BIND(exports, "embedding", [](T& weight, T& indices, c10::optional<int64_t> paddingIdx) {
    return at::embedding(weight, indices, paddingIdx.value_or(-1));
  });
  TL_BIND(exports, "dropout", [](T& x, double p, bool train) {
    if (p < 0 || p > 1) throw ArgError("dropout probability has to be between 0 and 1, but got " + std::to_string(p));
    return at::dropout(x, p, train);
  });
  TL_BIND(exports, "crossEntropy", [](T& logits, T& target, OptT weight, Reduction reduction, c10::optional<int64_t> ignoreIndex, OptNumber labelSmoothing) {
    return at::cross_entropy_loss(logits, target, weight, reduction.value, ignoreIndex.value_or(-100), labelSmoothing.value_or(0.0));
  });
  TL_BIND(exports, "nllLoss", [](T& logProbs, T& target, OptT weight, Reduction reduction, c10::optional<int64_t> ignoreIndex) {
    return at::nll_loss_nd(logProbs, target, weight, reduction.value, ignoreIndex.value_or(-100));
  });
  TL_BIND(exports, "mseLoss", [](T& input, T& target, Reduction reduction) { return at::mse_loss(input, target, reduction.value); });
  TL_BIND(exports, "bceWithLogits", [](T& input, T& target, Reduction reduction) {
    return at::binary_cross_entropy_with_logits(input, target, c10::nullopt, c10::nullopt, reduction.value);
  });
  TL_BIND(exports, "scaledDotProductAttention", [](T& q, T& k, T& v, OptT mask, OptNumber dropoutP, bool isCausal, bool train) {
    return attention(q, k, v, mask, dropoutP.value_or(0.0), isCausal, train);
  });
  TL_BIND(exports, "attentionMatmulSoftmax", [](T& q, T& k, T& v, OptT mask, OptNumber dropoutP, bool isCausal, bool train) {
    return attentionExplicit(q, k, v, mask, dropoutP.value_or(0.0), isCausal, train);
  });
  TL_BIND(exports, "hasFusedAttention", []() { return static_cast<bool>(TL_HAS_SDPA); });
}

}  // namespace tl
