// The optimizer updates (Adam/AdamW and SGD), one native call per step over all parameters. Contiguous float32 CPU
// parameters take Adam's single-pass kernel in fused_optim.cc; everything else the tensor ops below.
#include "common.h"

#include <ATen/core/grad_mode.h>

#include <cmath>

namespace tl {
bool fusedAdamStep(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, at::Tensor* vmax, double lr, double beta1,
                   double beta2, double eps, double wd, bool decoupled, bool maximize, double step);  // fused_optim.cc

namespace {

using Info = Napi::CallbackInfo;

// Adam and AdamW exactly as torch.optim's single-tensor path computes them.
// (params[], expAvg[], expAvgSq[], maxExpAvgSq[]|null, steps[], lr, beta1, beta2, eps, weightDecay, amsgrad, decoupled, maximize)
Napi::Value adamStep(const Info& info) {
  at::NoGradGuard noGrad;
  auto params = tensorListArg(info, 0);
  auto expAvg = tensorListArg(info, 1);
  auto expAvgSq = tensorListArg(info, 2);
  bool amsgrad = boolArg(info, 10);
  std::vector<at::Tensor> maxSq = amsgrad ? tensorListArg(info, 3) : std::vector<at::Tensor>();
  auto steps = intListArg(info, 4);
  double lr = numberArg(info, 5), beta1 = numberArg(info, 6), beta2 = numberArg(info, 7), eps = numberArg(info, 8);
  double wd = numberArg(info, 9);
  bool decoupled = boolArg(info, 11), maximize = boolArg(info, 12);
  if (expAvg.size() != params.size() || expAvgSq.size() != params.size() || steps.size() != params.size() ||
      (amsgrad && maxSq.size() != params.size()))
    throw ArgError("optimizer state lists must have one entry per parameter");
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    auto g = p.grad();
    if (!g.defined()) continue;
    double step = static_cast<double>(steps[i]);
    // One pass over memory for contiguous float32 CPU tensors (fused_optim.cc); the ops below otherwise.
    if (fusedAdamStep(p, g, expAvg[i], expAvgSq[i], amsgrad ? &maxSq[i] : nullptr, lr, beta1, beta2, eps, wd, decoupled, maximize, step)) continue;
    if (maximize) g = -g;
    if (wd != 0) {
      if (decoupled) p.mul_(1 - lr * wd);
      else g = g.add(p, wd);
    }
    expAvg[i].mul_(beta1).add_(g, 1 - beta1);
    expAvgSq[i].mul_(beta2).addcmul_(g, g, 1 - beta2);
    double bc1 = 1 - std::pow(beta1, step);
    double bc2 = 1 - std::pow(beta2, step);
    double stepSize = lr / bc1;
    double bc2Sqrt = std::sqrt(bc2);
    at::Tensor denom;
    if (amsgrad) {
      at::maximum_out(maxSq[i], maxSq[i], expAvgSq[i]);
      denom = (maxSq[i].sqrt() / bc2Sqrt).add_(eps);
    } else {
      denom = (expAvgSq[i].sqrt() / bc2Sqrt).add_(eps);
    }
    p.addcdiv_(expAvg[i], denom, -stepSize);
  }
  return info.Env().Undefined();
}

// SGD as torch.optim computes it. (params[], momentumBuffers[]|null, firstStep, lr, momentum, dampening, weightDecay, nesterov, maximize)
Napi::Value sgdStep(const Info& info) {
  at::NoGradGuard noGrad;
  auto params = tensorListArg(info, 0);
  double momentum = numberArg(info, 4);
  std::vector<at::Tensor> bufs = momentum != 0 ? tensorListArg(info, 1) : std::vector<at::Tensor>();
  bool first = boolArg(info, 2);
  double lr = numberArg(info, 3), dampening = numberArg(info, 5), wd = numberArg(info, 6);
  bool nesterov = boolArg(info, 7), maximize = boolArg(info, 8);
  if (momentum != 0 && bufs.size() != params.size()) throw ArgError("one momentum buffer per parameter is required");
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    auto d = p.grad();
    if (!d.defined()) continue;
    if (maximize) d = -d;
    if (wd != 0) d = d.add(p, wd);
    if (momentum != 0) {
      auto& buf = bufs[i];
      if (first) buf.copy_(d);
      else buf.mul_(momentum).add_(d, 1 - dampening);
      d = nesterov ? d.add(buf, momentum) : buf;
    }
    p.add_(d, -lr);
  }
  return info.Env().Undefined();
}

}  // namespace

void registerOptimizers(Napi::Env env, Napi::Object exports) {
  TL_EXPORT(exports, "adamStep", adamStep);
  TL_EXPORT(exports, "sgdStep", sgdStep);
}

}  // namespace tl
