// Autograd: backward, .grad, grad mode, autocast, zeroing and clipping gradients. (Optimizer steps: optimizers.cc.)
#include "bind.h"
#include "common.h"

#include "compat.h"
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/version.h>

#include <cmath>

namespace tl {

void registerAutograd(Napi::Env env, Napi::Object exports) {
  using T = at::Tensor;
  TL_BIND(exports, "backward", [](T& t, c10::optional<T> grad, c10::optional<bool> retainGraph, bool createGraph) {
    if (!t.requires_grad()) throw ArgError("element 0 of tensors does not require grad and does not have a grad_fn");
    if (!grad && t.numel() != 1) throw ArgError("grad can be implicitly created only for scalar outputs");
    t.backward(grad.value_or(at::Tensor()), retainGraph, createGraph);
  });
  // .grad's handle, or null
  TL_BIND(exports, "grad", [](T& t) -> c10::optional<T> {
    if (!t.grad().defined()) return c10::nullopt;
    return t.grad();
  });
  TL_BIND(exports, "setGrad", [](T& t, c10::optional<T> grad) { t.mutable_grad() = grad ? *grad : at::Tensor(); });
  // The name of the node that made this tensor (e.g. "MulBackward0"), or null for leaves; for printing.
  TL_BIND(exports, "gradFnName", [](T& t) -> c10::optional<std::string> {
    const auto& fn = t.grad_fn();
    if (!fn) return c10::nullopt;
    std::string name = fn->name();
    auto pos = name.rfind("::");
    return pos == std::string::npos ? name : name.substr(pos + 2);
  });
  TL_BIND(exports, "hasGrad", [](T& t) { return t.grad().defined(); });
  TL_BIND(exports, "requiresGrad_", [](T& t, c10::optional<bool> on) { t.requires_grad_(on.value_or(true)); });
  TL_BIND(exports, "retainGrad", [](T& t) { t.retain_grad(); });
  TL_BIND(exports, "isGradEnabled", []() { return c10::GradMode::is_enabled(); });
  TL_BIND(exports, "setGradEnabled", [](bool on) { c10::GradMode::set_enabled(on); });
  TL_BIND(exports, "zeroGrad", [](std::vector<T> params, bool setToNone) {
    for (auto& p : params) {
      auto& g = p.mutable_grad();
      if (!g.defined()) continue;
      if (setToNone) g = at::Tensor();
      else {
        if (g.grad_fn()) g = g.detach();
        else g.requires_grad_(false);
        g.zero_();
      }
    }
  });
  // Mixed precision: ops inside run in `dtype` where autocast's op lists allow it.
  TL_BIND(exports, "setAutocast", [](bool enabled, std::string deviceType, at::ScalarType dtype) {
    compat::setAutocast(deviceType == "cuda", enabled, dtype);
    if (enabled) at::autocast::increment_nesting();
    else if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  });
  // torch.nn.utils.clip_grad_norm_: scales every .grad so that their joint norm is at most maxNorm; returns that norm.
  TL_BIND(exports, "clipGradNorm", [](std::vector<T> params, double maxNorm, c10::optional<double> normTypeArg) {
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> grads;
    for (auto& p : params) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
    double normType = normTypeArg.value_or(2.0);
    if (grads.empty()) return 0.0;
    at::Tensor total;
    if (std::isinf(normType)) {
      std::vector<at::Tensor> maxes;
      for (auto& g : grads) maxes.push_back(g.detach().abs().max());
      total = at::stack(maxes).max();
    } else {
      std::vector<at::Tensor> norms;
      for (auto& g : grads) norms.push_back(at::norm(g.detach(), normType));
      total = at::norm(at::stack(norms), normType);
    }
    auto coef = at::clamp(maxNorm / (total + 1e-6), c10::nullopt, 1.0);
    for (auto& g : grads) g.detach().mul_(coef.to(g.device()));
    return total.item<double>();
  });
}

}  // namespace tl
