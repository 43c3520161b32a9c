// Every difference between the libtorch versions we build against (Debian's 1.13 and PyTorch 2.x) lives here, so
// that the ops read the same on all of them. Each shim says from which version the newer API exists.
#pragma once
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/Allocator.h>
#include <torch/version.h>

#define TL_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// at::scaled_dot_product_attention (fused attention kernels): 2.0.
#define TL_HAS_SDPA TL_TORCH_AT_LEAST(2, 0)

// c10::Allocator::allocate lost its `const` and gained a pure virtual copy_data in 2.3.
#if TL_TORCH_AT_LEAST(2, 3)
#define TL_ALLOCATE_CONST
#define TL_ALLOCATOR_HAS_COPY_DATA 1
#else
#define TL_ALLOCATE_CONST const
#define TL_ALLOCATOR_HAS_COPY_DATA 0
#endif

namespace tl::compat {

// Autocast state per device type: one device-generic API from 2.4, per-device functions before.
inline void setAutocast(bool cuda, bool enabled, at::ScalarType dtype) {
#if TL_TORCH_AT_LEAST(2, 4)
  auto dev = cuda ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_enabled(dev, enabled);
  at::autocast::set_autocast_dtype(dev, dtype);
#else
  if (cuda) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

inline bool cpuAutocastEnabled() {
#if TL_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}

}  // namespace tl::compat
