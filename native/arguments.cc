// Argument readers (JavaScript values to libtorch types, with errors that name the argument) and result writers.
#include "common.h"

#include <ATen/detail/CUDAHooksInterface.h>

#include <cmath>

namespace tl {

Napi::Value argAt(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() ? info[i] : info.Env().Undefined(); }
std::string argName(size_t i) { return "argument " + std::to_string(i + 1); }

bool hasArg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length()) return false;
  auto v = info[i];
  return !v.IsUndefined() && !v.IsNull();
}

at::Tensor& tensorArg(const Napi::CallbackInfo& info, size_t i) {
  // The hottest path of every op: one engine call, which fails for anything that is not a number.
  int64_t h;
  if (i >= info.Length() || napi_get_value_int64(info.Env(), info[i], &h) != napi_ok) throw ArgError(argName(i) + " must be a Tensor");
  auto& t = table();
  if (at::Tensor* found = t.find(h)) return *found;
  throw ArgError(argName(i) + " is " + t.problem(h));
}

c10::optional<at::Tensor> optTensorArg(const Napi::CallbackInfo& info, size_t i) {
  if (!hasArg(info, i)) return c10::nullopt;
  auto v = info[i];
  if (v.IsNumber() && v.As<Napi::Number>().Int64Value() < 0) return c10::nullopt;
  return tensorArg(info, i);
}

std::vector<at::Tensor> tensorListArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (!v.IsArray()) throw ArgError(argName(i) + " must be an array of Tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value e = arr[k];
    if (!e.IsNumber()) throw ArgError(argName(i) + "[" + std::to_string(k) + "] must be a Tensor");
    int64_t h = e.As<Napi::Number>().Int64Value();
    if (const char* why = table().problem(h)) throw ArgError(argName(i) + "[" + std::to_string(k) + "] is " + why);
    out.push_back(table().get(h));
  }
  return out;
}

double numberArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
  if (!v.IsNumber()) throw ArgError(argName(i) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t intArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (!v.IsNumber()) throw ArgError(argName(i) + " must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) throw ArgError(argName(i) + " must be an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

bool boolArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBoolean()) throw ArgError(argName(i) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string stringArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (!v.IsString()) throw ArgError(argName(i) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> intListArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsNumber()) return {intArg(info, i)};
  if (!v.IsArray()) throw ArgError(argName(i) + " must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value e = arr[k];
    if (!e.IsNumber()) throw ArgError(argName(i) + " must be an array of integers");
    double d = e.As<Napi::Number>().DoubleValue();
    if (d != static_cast<double>(static_cast<int64_t>(d))) throw ArgError(argName(i) + " must contain integers only");
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

at::ScalarType dtypeArg(const Napi::CallbackInfo& info, size_t i) {
  int64_t code = intArg(info, i);
  switch (code) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 11: case 15:
      return static_cast<at::ScalarType>(code);
    default:
      throw ArgError(argName(i) + " is not a supported dtype");
  }
}

c10::optional<at::ScalarType> optDtypeArg(const Napi::CallbackInfo& info, size_t i) {
  if (!hasArg(info, i) || intArg(info, i) < 0) return c10::nullopt;
  return dtypeArg(info, i);
}

at::Device deviceArg(const Napi::CallbackInfo& info, size_t i) {
  if (!hasArg(info, i)) return at::Device(at::kCPU);
  std::string s = stringArg(info, i);
  at::Device d(s);  // throws c10::Error with libtorch's message for an unknown device string
  // Without this check a CUDA device on a CPU-only build fails deep inside the dispatcher with a page-long
  // "Could not run 'aten::empty_strided' with arguments from the 'CUDA' backend" message.
  if (d.is_cuda()) {
    int64_t n = at::hasCUDA() ? static_cast<int64_t>(at::getNumGPUs()) : 0;
    if (n == 0) throw ArgError("device '" + s + "' requested, but CUDA is not available (no GPU, or libtorch was built without CUDA)");
    if (d.has_index() && d.index() >= n)
      throw ArgError("device '" + s + "' does not exist: " + std::to_string(n) + " CUDA device" + (n == 1 ? "" : "s") + " available");
  }
  return d;
}

at::Scalar scalarArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsBigInt()) {
    bool lossless;
    return at::Scalar(static_cast<int64_t>(v.As<Napi::BigInt>().Int64Value(&lossless)));
  }
  if (!v.IsNumber()) throw ArgError(argName(i) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  // JavaScript has one number type; an integral value is passed as an integer Scalar, the way Python passes `2`
  // (not `2.0`), so that int64 + 2 stays int64 as in PyTorch. -0 and values beyond 2^53 stay doubles.
  constexpr double kMaxExact = 9007199254740992.0;
  if (std::trunc(d) == d && std::fabs(d) <= kMaxExact && !(d == 0 && std::signbit(d))) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  return Napi::Number::New(env, table().insert(std::move(t)));
}

Napi::Value wrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t k = 0; k < ts.size(); ++k) arr.Set(static_cast<uint32_t>(k), wrap(env, ts[k]));
  return arr;
}

}  // namespace tl
