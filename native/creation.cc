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

// (typedArrayOrBuffer, shape, dtype, device, requiresGrad): copies the bytes into a new tensor.
Napi::Value fromBuffer(const Napi::CallbackInfo& info) {
  auto v = info.Length() > 0 ? info[0] : info.Env().Undefined();
  const uint8_t* data;
  size_t byteLength;
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    byteLength = ta.ByteLength();
  } else if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    data = static_cast<const uint8_t*>(ab.Data());
    byteLength = ab.ByteLength();
  } else if (v.IsDataView()) {
    auto dv = v.As<Napi::DataView>();
    data = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    byteLength = dv.ByteLength();
  } else {
    throw ArgError("argument 1 must be a Buffer, TypedArray or ArrayBuffer");
  }
  auto shape = intListArg(info, 1);
  auto dtype = dtypeArg(info, 2);
  int64_t numel = 1;
  for (auto d : shape) {
    if (d < 0) throw ArgError("shape has a negative dimension");
    numel *= d;
  }
  size_t expected = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (expected != byteLength) {
    throw ArgError("buffer holds " + std::to_string(byteLength) + " bytes but shape and dtype need " + std::to_string(expected));
  }
  auto t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (byteLength) std::memcpy(t.data_ptr(), data, byteLength);
  auto device = deviceArg(info, 3);
  if (!device.is_cpu()) t = t.to(device);
  return wrap(info.Env(), made(std::move(t), boolArg(info, 4)));
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
  TL_EXPORT(exports, "fromBuffer", fromBuffer);  // its first argument is bytes of any view: read by hand
  TL_BIND(exports, "manualSeed", [](int64_t seed) { at::manual_seed(static_cast<uint64_t>(seed)); });
}

}  // namespace tl
