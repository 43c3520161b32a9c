// Tensor creation: factories (typed lambdas, native/bind.h), tensors from JavaScript buffers, and the global seed.
#include "bind.h"
#include "common.h"

#include <cstring>

namespace tl {
namespace {

at::Tensor made(at::Tensor t, bool requiresGrad) {
  if (requiresGrad) t.requires_grad_(true);
  return t;
}
at::TensorOptions options(at::ScalarType dtype, at::Device device) { return at::TensorOptions().dtype(dtype).device(device); }

// (bytes, shape, dtype, device, requiresGrad): copies the bytes (of any view, or an ArrayBuffer) into a new tensor.
at::Tensor fromBuffer(bound::ByteView bytes, std::vector<int64_t> shape, at::ScalarType dtype, at::Device device, bool requiresGrad) {
  int64_t numel = 1;
  for (auto d : shape) {
    if (d < 0) throw ArgError("shape has a negative dimension");
    numel *= d;
  }
  size_t expected = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (expected != bytes.size) {
    throw ArgError("buffer holds " + std::to_string(bytes.size) + " bytes but shape and dtype need " + std::to_string(expected));
  }
  auto t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (bytes.size) std::memcpy(t.data_ptr(), bytes.data, bytes.size);
  if (!device.is_cpu()) t = t.to(device);
  return made(std::move(t), requiresGrad);
}

}  // namespace

void registerCreation(Napi::Env env, Napi::Object exports) {
  // Every factory takes (..., dtype, device, requiresGrad) last.
  using Shape = std::vector<int64_t>;
  using DType = at::ScalarType;
  TL_BIND(exports, "zeros", [](Shape shape, DType dtype, at::Device device, bool rg) { return made(at::zeros(shape, options(dtype, device)), rg); });
  TL_BIND(exports, "ones", [](Shape shape, DType dtype, at::Device device, bool rg) { return made(at::ones(shape, options(dtype, device)), rg); });
  TL_BIND(exports, "empty", [](Shape shape, DType dtype, at::Device device, bool rg) { return made(at::empty(shape, options(dtype, device)), rg); });
  TL_BIND(exports, "rand", [](Shape shape, DType dtype, at::Device device, bool rg) { return made(at::rand(shape, options(dtype, device)), rg); });
  TL_BIND(exports, "randn", [](Shape shape, DType dtype, at::Device device, bool rg) { return made(at::randn(shape, options(dtype, device)), rg); });
  TL_BIND(exports, "full", [](Shape shape, at::Scalar value, DType dtype, at::Device device, bool rg) {
    return made(at::full(shape, value, options(dtype, device)), rg);
  });
  TL_BIND(exports, "randint", [](int64_t low, int64_t high, Shape shape, DType dtype, at::Device device, bool rg) {
    return made(at::randint(low, high, shape, options(dtype, device)), rg);
  });
  TL_BIND(exports, "arange", [](at::Scalar start, at::Scalar end, at::Scalar step, DType dtype, at::Device device, bool rg) {
    return made(at::arange(start, end, step, options(dtype, device)), rg);
  });
  TL_BIND(exports, "linspace", [](at::Scalar start, at::Scalar end, int64_t steps, DType dtype, at::Device device, bool rg) {
    return made(at::linspace(start, end, steps, options(dtype, device)), rg);
  });
  TL_BIND(exports, "eye", [](int64_t n, DType dtype, at::Device device, bool rg) { return made(at::eye(n, options(dtype, device)), rg); });
  TL_BIND(exports, "fromBuffer", fromBuffer);
  TL_BIND(exports, "manualSeed", [](int64_t seed) { at::manual_seed(static_cast<uint64_t>(seed)); });
}

}  // namespace tl
