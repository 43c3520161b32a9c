// Autograd: backward, .grad, grad mode, autocast, zeroing and clipping gradients. (Optimizer steps: optimizers.cc.)
#include "common.h"

#include "compat.h"
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/version.h>

#include <cmath>

namespace tl {

namespace {

using Info = Napi::CallbackInfo;

// (h, grad?, retainGraph, createGraph)
Napi::Value backward(const Info& info) {
  auto& t = tensorArg(info, 0);
  auto grad = optTensorArg(info, 1);
  if (!t.requires_grad()) throw ArgError("element 0 of tensors does not require grad and does not have a grad_fn");
  if (!grad && t.numel() != 1) throw ArgError("grad can be implicitly created only for scalar outputs");
  bool create = boolArg(info, 3);
  t.backward(grad.value_or(at::Tensor()), hasArg(info, 2) ? c10::optional<bool>(boolArg(info, 2)) : c10::nullopt, create);
  return info.Env().Undefined();
}

// (h) -> handle of .grad, or null
Napi::Value grad(const Info& info) {
  auto& t = tensorArg(info, 0);
  const auto& g = t.grad();
  if (!g.defined()) return info.Env().Null();
  return wrap(info.Env(), g);
}
Napi::Value hasGrad(const Info& info) { return Napi::Boolean::New(info.Env(), tensorArg(info, 0).grad().defined()); }
// (h) -> the name of the node that made this tensor (e.g. "MulBackward0"), or null for leaves; for printing.
Napi::Value gradFnName(const Info& info) {
  const auto& fn = tensorArg(info, 0).grad_fn();
  if (!fn) return info.Env().Null();
  std::string name = fn->name();
  auto pos = name.rfind("::");
  return Napi::String::New(info.Env(), pos == std::string::npos ? name : name.substr(pos + 2));
}
// (h, grad|null)
Napi::Value setGrad(const Info& info) {
  auto& t = tensorArg(info, 0);
  auto g = optTensorArg(info, 1);
  t.mutable_grad() = g ? *g : at::Tensor();
  return info.Env().Undefined();
}
Napi::Value requiresGrad_(const Info& info) {
  tensorArg(info, 0).requires_grad_(hasArg(info, 1) ? boolArg(info, 1) : true);
  return info.Env().Undefined();
}
Napi::Value retainGrad(const Info& info) {
  tensorArg(info, 0).retain_grad();
  return info.Env().Undefined();
}
Napi::Value isGradEnabled(const Info& info) { return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled()); }
Napi::Value setGradEnabled(const Info& info) {
  c10::GradMode::set_enabled(boolArg(info, 0));
  return info.Env().Undefined();
}

// Mixed precision: ops inside run in `dtype` where autocast's op lists allow it. (enabled, deviceType 'cpu'|'cuda', dtype)
Napi::Value setAutocast(const Info& info) {
  bool enabled = boolArg(info, 0);
  bool cuda = stringArg(info, 1) == "cuda";
  auto dtype = dtypeArg(info, 2);
  compat::setAutocast(cuda, enabled, dtype);
  if (enabled) at::autocast::increment_nesting();
  else if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  return info.Env().Undefined();
}

// (params[], setToNone)
Napi::Value zeroGrad(const Info& info) {
  bool setToNone = boolArg(info, 1);
  for (auto& p : tensorListArg(info, 0)) {
    auto& g = p.mutable_grad();
    if (!g.defined()) continue;
    if (setToNone) g = at::Tensor();
    else {
      if (g.grad_fn()) g = g.detach();
      else g.requires_grad_(false);
      g.zero_();
    }
  }
  return info.Env().Undefined();
}

// torch.nn.utils.clip_grad_norm_: scales every .grad so that their joint norm is at most maxNorm; returns that norm.
// (params[], maxNorm, normType)
Napi::Value clipGradNorm(const Info& info) {
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> grads;
  for (auto& p : tensorListArg(info, 0)) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  double maxNorm = numberArg(info, 1);
  double normType = hasArg(info, 2) ? numberArg(info, 2) : 2.0;
  if (grads.empty()) return Napi::Number::New(info.Env(), 0.0);
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
  return Napi::Number::New(info.Env(), total.item<double>());
}

}  // namespace

void registerAutograd(Napi::Env env, Napi::Object exports) {
  TL_EXPORT(exports, "backward", backward);
  TL_EXPORT(exports, "grad", grad);
  TL_EXPORT(exports, "setGrad", setGrad);
  TL_EXPORT(exports, "gradFnName", gradFnName);
  TL_EXPORT(exports, "hasGrad", hasGrad);
  TL_EXPORT(exports, "requiresGrad_", requiresGrad_);
  TL_EXPORT(exports, "retainGrad", retainGrad);
  TL_EXPORT(exports, "isGradEnabled", isGradEnabled);
  TL_EXPORT(exports, "setGradEnabled", setGradEnabled);
  TL_EXPORT(exports, "zeroGrad", zeroGrad);
  TL_EXPORT(exports, "setAutocast", setAutocast);
  TL_EXPORT(exports, "clipGradNorm", clipGradNorm);
}

}  // namespace tl
