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

// The step's scalars, as the ATen kernels see them (converted to float once).
struct AdamScalars {
  float decay;  // AdamW: p *= 1 - lr·wd (1 when not decoupled)
  float l2;     // Adam: g += wd·p
  float sign;   // -1 to maximize
  float b1, oneMinusB1, b2, oneMinusB2, bc2Sqrt, negStepSize, eps;
};

// One thread's range. Everything it reads is a by-value parameter or behind a __restrict pointer, so the compiler
// keeps the scalars in registers and vectorizes the loop. (The first version read them through the lambda's
// references: any store to P could alias them, so each was reloaded every element, and the loop stayed scalar.)
// The choices that would branch per element are template parameters (L2: Adam's g += wd·p; AMS: amsgrad) or exact
// multiplications (sign -1 for maximize, decay 1 when AdamW's decay is off: x·1 and x·-1 are exact, also for NaN
// and infinities). target_clones compiles AVX-512, AVX2 and baseline versions and the loader picks the CPU's best;
// with -ffp-contract=off (the build files) every clone rounds as the scalar code does, and so as ATen's ops do.
template <bool L2, bool AMS>
__attribute__((target_clones("avx512f", "avx2", "default"))) void adamRange(const AdamScalars s, float* __restrict P,
                                                                             const float* __restrict G, float* __restrict M,
                                                                             float* __restrict V, float* __restrict VM,
                                                                             int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    float gi = s.sign * G[i];
    float pi = P[i] * s.decay;
    if constexpr (L2) gi = gi + s.l2 * pi;
    float mi = M[i] * s.b1;
    mi = mi + s.oneMinusB1 * gi;
    float vi = V[i] * s.b2;
    vi = vi + s.oneMinusB2 * gi * gi;
    float vd = vi;
    if constexpr (AMS) {
      const float a = VM[i];
      vd = (a != a || vi != vi) ? a + vi : (a > vi ? a : vi);  // at::maximum: NaN wins
      VM[i] = vd;
    }
    float denom = std::sqrt(vd) / s.bc2Sqrt + s.eps;
    P[i] = pi + s.negStepSize * mi / denom;
    M[i] = mi;
    V[i] = vi;
  }
}
}  // namespace

// Returns false (and changes nothing) when a tensor is not a contiguous float32 CPU tensor; the caller then uses
// the unfused ops. `step` is the step count after this step (1 on the first).
bool fusedAdamStep(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, at::Tensor* vmax, double lr, double beta1,
                   double beta2, double eps, double wd, bool decoupled, bool maximize, double step) {
  const int64_t n = p.numel();
  if (!fusable(p, n) || !fusable(g, n) || !fusable(m, n) || !fusable(v, n) || (vmax && !fusable(*vmax, n))) return false;
  if (g.is_same(p) || m.is_same(p) || v.is_same(p) || m.is_same(v)) return false;
  if (g.data_ptr() == p.data_ptr() || m.data_ptr() == v.data_ptr()) return false;  // __restrict below: no shared memory

  AdamScalars s;
  const bool l2 = wd != 0 && !decoupled;
  s.decay = wd != 0 && decoupled ? static_cast<float>(1 - lr * wd) : 1.0f;
  s.l2 = static_cast<float>(wd);
  s.sign = maximize ? -1.0f : 1.0f;
  s.b1 = static_cast<float>(beta1);
  s.oneMinusB1 = static_cast<float>(1 - beta1);
  s.b2 = static_cast<float>(beta2);
  s.oneMinusB2 = static_cast<float>(1 - beta2);
  const double bc1 = 1 - std::pow(beta1, step);
  const double bc2 = 1 - std::pow(beta2, step);
  s.bc2Sqrt = static_cast<float>(std::sqrt(bc2));
  s.negStepSize = static_cast<float>(-(lr / bc1));
  s.eps = static_cast<float>(eps);

  float* P = p.data_ptr<float>();
  const float* G = g.data_ptr<float>();
  float* M = m.data_ptr<float>();
  float* V = v.data_ptr<float>();
  float* VM = vmax ? vmax->data_ptr<float>() : nullptr;
  auto range = l2 ? (VM ? adamRange<true, true> : adamRange<true, false>) : (VM ? adamRange<false, true> : adamRange<false, false>);
  at::parallel_for(0, n, 1 << 16, [=](int64_t begin, int64_t end) { range(s, P, G, M, V, VM, begin, end); });
  // In-place updates, as far as autograd can tell (a graph that saved the parameter sees the change).
  p.unsafeGetTensorImpl()->bump_version();
  m.unsafeGetTensorImpl()->bump_version();
  v.unsafeGetTensorImpl()->bump_version();
  if (vmax) vmax->unsafeGetTensorImpl()->bump_version();
  return true;
}

}  // namespace tl
