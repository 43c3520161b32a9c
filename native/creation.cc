// Tensor creation: factories, tensors from JavaScript buffers, and the global seed.
#include "common.h"

#include <cstring>

namespace tl {
namespace {

at::TensorOptions optionsArg(const Napi::CallbackInfo& info, size_t dtypeIdx) {
  return at::TensorOptions().dtype(dtypeArg(info, dtypeIdx)).device(deviceArg(info, dtypeIdx + 1));
}
Napi::Value made(const Napi::CallbackInfo& info, at::Tensor t, size_t requiresGradIdx) {
  if (boolArg(info, requiresGradIdx)) t.requires_grad_(true);
  return wrap(info.Env(), std::move(t));
}

// (shape, dtype, device, requiresGrad)
Napi::Value zeros(const Napi::CallbackInfo& info) { return made(info, at::zeros(intListArg(info, 0), optionsArg(info, 1)), 3); }
Napi::Value ones(const Napi::CallbackInfo& info) { return made(info, at::ones(intListArg(info, 0), optionsArg(info, 1)), 3); }
Napi::Value empty(const Napi::CallbackInfo& info) { return made(info, at::empty(intListArg(info, 0), optionsArg(info, 1)), 3); }
Napi::Value rand(const Napi::CallbackInfo& info) { return made(info, at::rand(intListArg(info, 0), optionsArg(info, 1)), 3); }
Napi::Value randn(const Napi::CallbackInfo& info) { return made(info, at::randn(intListArg(info, 0), optionsArg(info, 1)), 3); }
// (shape, value, dtype, device, requiresGrad)
Napi::Value full(const Napi::CallbackInfo& info) {
  return made(info, at::full(intListArg(info, 0), scalarArg(info, 1), optionsArg(info, 2)), 4);
}
// (low, high, shape, dtype, device)
Napi::Value randint(const Napi::CallbackInfo& info) {
  return made(info, at::randint(intArg(info, 0), intArg(info, 1), intListArg(info, 2), optionsArg(info, 3)), 5);
}
// (start, end, step, dtype, device, requiresGrad)
Napi::Value arange(const Napi::CallbackInfo& info) {
  return made(info, at::arange(scalarArg(info, 0), scalarArg(info, 1), scalarArg(info, 2), optionsArg(info, 3)), 5);
}
// (start, end, steps, dtype, device, requiresGrad)
Napi::Value linspace(const Napi::CallbackInfo& info) {
  return made(info, at::linspace(scalarArg(info, 0), scalarArg(info, 1), intArg(info, 2), optionsArg(info, 3)), 5);
}
// (n, dtype, device, requiresGrad)
Napi::Value eye(const Napi::CallbackInfo& info) { return made(info, at::eye(intArg(info, 0), optionsArg(info, 1)), 3); }

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
  return made(info, std::move(t), 4);
}

Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  at::manual_seed(static_cast<uint64_t>(intArg(info, 0)));
  return info.Env().Undefined();
}
}  // namespace

void registerCreation(Napi::Env env, Napi::Object exports) {
  TL_EXPORT(exports, "zeros", zeros);
  TL_EXPORT(exports, "ones", ones);
  TL_EXPORT(exports, "empty", empty);
  TL_EXPORT(exports, "rand", rand);
  TL_EXPORT(exports, "randn", randn);
  TL_EXPORT(exports, "full", full);
  TL_EXPORT(exports, "randint", randint);
  TL_EXPORT(exports, "arange", arange);
  TL_EXPORT(exports, "linspace", linspace);
  TL_EXPORT(exports, "eye", eye);
  TL_EXPORT(exports, "fromBuffer", fromBuffer);
  TL_EXPORT(exports, "manualSeed", manualSeed);
}

}  // namespace tl
