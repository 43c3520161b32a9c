// The runtime: CUDA presence and synchronisation, the intra-op thread count, libtorch's version.
#include "bind.h"
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <cmath>

namespace tl {

void registerRuntime(Napi::Env env, Napi::Object exports) {
  TL_BIND(exports, "cudaIsAvailable", []() { return at::hasCUDA() && at::getNumGPUs() > 0; });
  TL_BIND(exports, "cudaDeviceCount", []() { return at::hasCUDA() ? static_cast<int64_t>(at::getNumGPUs()) : int64_t{0}; });
  // (device?): every device when absent
  TL_BIND(exports, "cudaSynchronize", [](c10::optional<int64_t> device) {
    if (!at::hasCUDA()) throw ArgError("CUDA is not available in this build of libtorch");
    int64_t n = static_cast<int64_t>(at::getNumGPUs());
    for (int64_t d = 0; d < n; ++d) {
      if (!device || *device < 0 || *device == d) at::detail::getCUDAHooks().deviceSynchronize(static_cast<c10::DeviceIndex>(d));
    }
  });
  TL_BIND(exports, "getNumThreads", []() { return static_cast<int64_t>(at::get_num_threads()); });
  // A raw value: anything but a count (a string, 1.5, 2**32 + 1) gets the one thread-count message. at::set_num_threads
  // takes an int: a count outside int's range wrapped (2**32 + 1 became 1), so it is checked here.
  TL_BIND(exports, "setNumThreads", [](Napi::Value v) {
    double n = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0;
    if (!(n >= 1 && n <= 65536) || n != std::floor(n)) throw ArgError("argument 1 must be a thread count, an integer from 1 to 65536");
    at::set_num_threads(static_cast<int>(n));
  });
  TL_BIND(exports, "version", []() { return std::string(TORCH_VERSION); });
  TL_BIND(exports, "parallelInfo", []() { return at::get_parallel_info(); });
}

}  // namespace tl
