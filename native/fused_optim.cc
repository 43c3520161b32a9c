// Adam/AdamW for one float32 CPU parameter in a single pass over its memory.
//
// torch.optim's single-tensor path (and the unfused path in optimizers.cc) runs eight tensor ops per parameter and
// allocates two temporaries the size of the parameter (sqrt(v), then the division). For full fine-tuning that is
// eight sweeps over 66 M floats and 530 MB of fresh memory per step; here it is one sweep and nothing allocated.
// The element-wise arithmetic is the same as those ops', in the same order and in float32.
#include "common.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace tl {

namespace {
bool fusable(const at::Tensor& t, int64_t numel) {
  return t.defined() && t.device().is_cpu() && t.layout() == at::kStrided && t.scalar_type() == at::kFloat && t.is_contiguous() &&
         t.numel() == numel && !t.is_inference();
}
}  // namespace

// Returns false (and changes nothing) when a tensor is not a contiguous float32 CPU tensor; the caller then uses
// the unfused ops. `step` is the step count after this step (1 on the first).
bool fusedAdamStep(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, at::Tensor* vmax, double lr, double beta1,
                   double beta2, double eps, double wd, bool decoupled, bool maximize, double step) {
  const int64_t n = p.numel();
  if (!fusable(p, n) || !fusable(g, n) || !fusable(m, n) || !fusable(v, n) || (vmax && !fusable(*vmax, n))) return false;
  if (g.is_same(p) || m.is_same(p) || v.is_same(p) || m.is_same(v)) return false;

  // The scalars as the ATen kernels see them: converted to float once.
  const float decay = static_cast<float>(1 - lr * wd);  // AdamW: p *= 1 - lr·wd
  const float l2 = static_cast<float>(wd);              // Adam: g += wd·p
  const bool applyDecay = wd != 0 && decoupled;
  const bool applyL2 = wd != 0 && !decoupled;
  const float b1 = static_cast<float>(beta1), oneMinusB1 = static_cast<float>(1 - beta1);
  const float b2 = static_cast<float>(beta2), oneMinusB2 = static_cast<float>(1 - beta2);
  const double bc1 = 1 - std::pow(beta1, step);
  const double bc2 = 1 - std::pow(beta2, step);
  const float bc2Sqrt = static_cast<float>(std::sqrt(bc2));
  const float negStepSize = static_cast<float>(-(lr / bc1));
  const float epsF = static_cast<float>(eps);

  float* P = p.data_ptr<float>();
  const float* G = g.data_ptr<float>();
  float* M = m.data_ptr<float>();
  float* V = v.data_ptr<float>();
  float* VM = vmax ? vmax->data_ptr<float>() : nullptr;

  at::parallel_for(0, n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float gi = maximize ? -G[i] : G[i];
      float pi = P[i];
      if (applyDecay) pi = pi * decay;
      if (applyL2) gi = gi + l2 * pi;
      float mi = M[i] * b1;
      mi = mi + oneMinusB1 * gi;
      float vi = V[i] * b2;
      vi = vi + oneMinusB2 * gi * gi;
      float vd = vi;
      if (VM) {
        const float a = VM[i];
        vd = (a != a || vi != vi) ? a + vi : (a > vi ? a : vi);  // at::maximum: NaN wins
        VM[i] = vd;
      }
      float denom = std::sqrt(vd) / bc2Sqrt + epsF;
      P[i] = pi + negStepSize * mi / denom;
      M[i] = mi;
      V[i] = vi;
    }
  });
  // In-place updates, as far as autograd can tell (a graph that saved the parameter sees the change).
  p.unsafeGetTensorImpl()->bump_version();
  m.unsafeGetTensorImpl()->bump_version();
  v.unsafeGetTensorImpl()->bump_version();
  if (vmax) vmax->unsafeGetTensorImpl()->bump_version();
  return true;
}

}  // namespace tl
