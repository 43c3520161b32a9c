#include "direct_cpu.h"

#include <ATen/ScalarOps.h>
#include "compat.h"
#include <ATen/ops/add_cpu_dispatch.h>
#include <ATen/ops/div_cpu_dispatch.h>
#include <ATen/ops/mm_cpu_dispatch.h>
#include <ATen/ops/mul_cpu_dispatch.h>
#include <ATen/ops/sub_cpu_dispatch.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/version.h>

#include <cstring>

namespace tl::direct {
namespace {

// The dispatch keys of an ordinary dense CPU tensor; a conj/neg view, a quantized, sparse, nested or zero
// tensor carries other keys.
const c10::DispatchKeySet& plainCpuKeys() {
  static const c10::DispatchKeySet keys = at::empty({0}).key_set();
  return keys;
}

bool plain(const at::Tensor& t, bool gradMode) {
  return t.key_set() == plainCpuKeys() && !(gradMode && t.requires_grad());
}

// Nothing on this thread adds a dispatch layer: autocast (off by default through the excluded set), or any key
// switched on for the thread beyond the default ones (a Python mode, functionalization).
bool noExtraLayers() {
  bool autocast = compat::cpuAutocastEnabled();
  return !autocast && c10::impl::tls_local_dispatch_key_set().included_ == c10::default_included_set;
}

bool direct(const at::Tensor& a) { return noExtraLayers() && plain(a, at::GradMode::is_enabled()); }
bool direct(const at::Tensor& a, const at::Tensor& b) {
  if (!noExtraLayers()) return false;
  bool gradMode = at::GradMode::is_enabled();
  return plain(a, gradMode) && plain(b, gradMode);
}

// ATen turns `tensor op number` into `tensor op wrapped 0-dim tensor` holding the number as double or int64,
// then casts that tensor to the float tensor's dtype with a whole extra op (_to_copy), which costs more than
// the op itself on a small tensor. For float32/float64 tensors the number is made in that dtype at once: the
// same conversion, the same result type (a wrapped number never promotes), without the copy. Half and
// bfloat16 are left alone: their kernels read the original double value.
bool makesWrappedDirectly(const at::Tensor& a) {
  auto dt = a.scalar_type();
  return (dt == at::kFloat || dt == at::kDouble) && direct(a);
}

// Loops multiply by the same number again and again, and making the 0-dim tensor costs about as much as the
// op: the last one is kept per thread. Kernels only read a wrapped number, and nothing else holds it.
at::Tensor wrapped(const at::Scalar& s, at::ScalarType dtype) {
  thread_local struct {
    at::ScalarType dtype = at::ScalarType::Undefined;
    at::ScalarType kind = at::ScalarType::Undefined;
    int64_t bits = 0;
    at::Tensor tensor;
  } last;
  int64_t bits;
  if (s.isFloatingPoint()) {
    double d = s.toDouble();
    std::memcpy(&bits, &d, sizeof bits);
  } else {
    bits = s.toLong();
  }
  if (last.tensor.defined() && last.dtype == dtype && last.kind == s.type() && last.bits == bits) return last.tensor;
  auto t = at::detail::scalar_tensor_static(s, dtype, at::kCPU);
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  last = {dtype, s.type(), bits, t};
  return t;
}

}  // namespace

at::Tensor add(const at::Tensor& a, const at::Tensor& b) { return direct(a, b) ? at::cpu::add(a, b) : at::add(a, b); }
at::Tensor sub(const at::Tensor& a, const at::Tensor& b) { return direct(a, b) ? at::cpu::sub(a, b) : at::sub(a, b); }
at::Tensor mul(const at::Tensor& a, const at::Tensor& b) { return direct(a, b) ? at::cpu::mul(a, b) : at::mul(a, b); }
at::Tensor div(const at::Tensor& a, const at::Tensor& b) { return direct(a, b) ? at::cpu::div(a, b) : at::div(a, b); }

at::Tensor add(const at::Tensor& a, const at::Scalar& s) {
  return makesWrappedDirectly(a) ? at::cpu::add(a, wrapped(s, a.scalar_type())) : at::add(a, s);
}
at::Tensor sub(const at::Tensor& a, const at::Scalar& s) {
  return makesWrappedDirectly(a) ? at::cpu::sub(a, wrapped(s, a.scalar_type())) : at::sub(a, s);
}
at::Tensor mul(const at::Tensor& a, const at::Scalar& s) {
  return makesWrappedDirectly(a) ? at::cpu::mul(a, wrapped(s, a.scalar_type())) : at::mul(a, s);
}
at::Tensor div(const at::Tensor& a, const at::Scalar& s) {
  return makesWrappedDirectly(a) ? at::cpu::div(a, wrapped(s, a.scalar_type())) : at::div(a, s);
}

at::Tensor mm(const at::Tensor& a, const at::Tensor& b) { return direct(a, b) ? at::cpu::mm(a, b) : at::mm(a, b); }
// matmul of two matrices is mm (at::matmul's own first case), without matmul's composite layers.
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b) {
  return a.dim() == 2 && b.dim() == 2 && direct(a, b) ? at::cpu::mm(a, b) : at::matmul(a, b);
}

}  // namespace tl::direct
