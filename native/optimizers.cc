// The optimizer updates (Adam/AdamW and SGD), one native call per step over all parameters. Contiguous float32 CPU
// parameters take Adam's single-pass kernel in fused_optim.cc; everything else the tensor ops below.
#include "bind.h"
#include "common.h"

#include <ATen/core/grad_mode.h>

#include <cmath>

namespace tl {
bool fusedAdamStep(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, at::Tensor* vmax, double lr, double beta1,
                   double beta2, double eps, double wd, bool decoupled, bool maximize, double step);  // fused_optim.cc

namespace {

using Tensors = std::vector<at::Tensor>;

// Adam and AdamW exactly as torch.optim's single-tensor path computes them. maxExpAvgSq is null unless amsgrad.
void adamStep(Tensors params, Tensors expAvg, Tensors expAvgSq, c10::optional<Tensors> maxExpAvgSq, std::vector<int64_t> steps,
              double lr, double beta1, double beta2, double eps, double wd, bool amsgrad, bool decoupled, bool maximize) {
  at::NoGradGuard noGrad;
  if (amsgrad && !maxExpAvgSq) throw ArgError("argument 4 must be an array of Tensors");
  Tensors maxSq = amsgrad ? std::move(*maxExpAvgSq) : Tensors();
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
}

// SGD as torch.optim computes it. momentumBuffers is null when momentum is 0.
void sgdStep(Tensors params, c10::optional<Tensors> momentumBuffers, bool first, double lr, double momentum, double dampening, double wd,
             bool nesterov, bool maximize) {
  at::NoGradGuard noGrad;
  if (momentum != 0 && !momentumBuffers) throw ArgError("argument 2 must be an array of Tensors");
  Tensors bufs = momentum != 0 ? std::move(*momentumBuffers) : Tensors();
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
}

}  // namespace

void registerOptimizers(Napi::Env env, Napi::Object exports) {
  TL_BIND(exports, "adamStep", adamStep);
  TL_BIND(exports, "sgdStep", sgdStep);
}

}  // namespace tl
