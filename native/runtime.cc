// The runtime: CUDA presence and synchronisation, the intra-op thread count, libtorch's version.
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <cmath>

namespace tl {
namespace {

Napi::Value cudaIsAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), at::hasCUDA() && at::getNumGPUs() > 0); }
Napi::Value cudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::hasCUDA() ? static_cast<double>(at::getNumGPUs()) : 0.0);
}
Napi::Value cudaSynchronize(const Napi::CallbackInfo& info) {
  if (!at::hasCUDA()) throw ArgError("CUDA is not available in this build of libtorch");
  int64_t idx = hasArg(info, 0) ? intArg(info, 0) : -1;
  int64_t n = static_cast<int64_t>(at::getNumGPUs());
  for (int64_t d = 0; d < n; ++d) {
    if (idx < 0 || idx == d) at::detail::getCUDAHooks().deviceSynchronize(static_cast<c10::DeviceIndex>(d));
  }
  return info.Env().Undefined();
}
Napi::Value getNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  // at::set_num_threads takes an int: a count outside int's range wrapped (2**32 + 1 became 1), so check it here.
  double n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(n >= 1 && n <= 65536) || n != std::floor(n)) throw ArgError("argument 1 must be a thread count, an integer from 1 to 65536");
  at::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}
Napi::Value version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), TORCH_VERSION); }
Napi::Value parallelInfo(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), at::get_parallel_info()); }
}  // namespace

void registerRuntime(Napi::Env env, Napi::Object exports) {
  TL_EXPORT(exports, "cudaIsAvailable", cudaIsAvailable);
  TL_EXPORT(exports, "cudaDeviceCount", cudaDeviceCount);
  TL_EXPORT(exports, "cudaSynchronize", cudaSynchronize);
  TL_EXPORT(exports, "getNumThreads", getNumThreads);
  TL_EXPORT(exports, "setNumThreads", setNumThreads);
  TL_EXPORT(exports, "version", version);
  TL_EXPORT(exports, "parallelInfo", parallelInfo);
}

}  // namespace tl
