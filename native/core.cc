// The handle table, argument readers, the exception guard, module init, tensor creation, read-back and memory.
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <memory>
#include <unordered_set>

namespace tl {

// ---------------------------------------------------------------- table
namespace {
thread_local TensorTable* currentTable = nullptr;
thread_local napi_env currentEnv = nullptr;
constexpr int64_t kExternalMemoryFlushBytes = 1 << 20;

int64_t ownedBytes(const at::Tensor& t) {
  if (!t.defined() || t.is_view() || !t.has_storage()) return 0;
  return static_cast<int64_t>(t.storage().nbytes());
}
}  // namespace

TensorTable& table() {
  if (!currentTable) throw std::runtime_error("torch-lora native module is not initialised on this thread");
  return *currentTable;
}

namespace {
constexpr int kIndexBits = 20;       // 1,048,576 live tensors per thread
constexpr int kGenerationBits = 11;  // a slot is reused 2,048 times before a stale handle of it could match again
static_assert(kIndexBits + kGenerationBits == 31, "handles must be positive small integers (V8 Smis)");
constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;
constexpr uint32_t kGenerationMask = (1u << kGenerationBits) - 1;
constexpr int64_t kHandleMax = (int64_t{1} << 31) - 1;
std::atomic<uint32_t> tablesMade{0};

uint32_t randomKey() {
  std::random_device device;
  // The counter keeps two tables of one process apart even where random_device is a fixed sequence.
  return (device() ^ (tablesMade.fetch_add(1) * 0x9E3779B9u)) & static_cast<uint32_t>(kHandleMax);
}
}  // namespace

TensorTable::TensorTable() : key_(randomKey()) {}

int64_t TensorTable::insert(at::Tensor t) {
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() > kIndexMask) throw std::runtime_error("more than 1,048,576 live tensors on this thread: dispose some (tidy, dispose)");
    index = static_cast<uint32_t>(slots_.size());
    slots_.push_back(Slot{at::Tensor(), 0, 0});
  }
  Slot& slot = slots_[index];
  uint32_t handle = ((slot.generation << kIndexBits) | index) ^ key_;
  if (handle == 0) {  // 0 is what NaN and other junk read as: skip that generation
    slot.generation = (slot.generation + 1) & kGenerationMask;
    handle = ((slot.generation << kIndexBits) | index) ^ key_;
  }
  slot.tensor = std::move(t);
  slot.handle = handle;
  pendingBytes_ += ownedBytes(slot.tensor);
  ++live_;
  if (pendingBytes_ > kExternalMemoryFlushBytes || pendingBytes_ < -kExternalMemoryFlushBytes) flushExternalMemory(currentEnv);
  return handle;
}

// One comparison decides: the slot's live handle carries the same generation and index under this table's key.
int64_t TensorTable::indexOf(int64_t h) const {
  uint32_t index = (static_cast<uint32_t>(h) ^ key_) & kIndexMask;
  if (h <= 0 || h > kHandleMax || index >= slots_.size() || slots_[index].handle != h) return -1;
  return index;
}

const char* TensorTable::problem(int64_t h) const {
  if (h == -1) return "a tensor that has been disposed";  // what Tensor.dispose() leaves in the object
  if (h <= 0 || h > kHandleMax) return "not a tensor handle";
  int64_t index = indexOf(h);
  if (index < 0 || !slots_[index].tensor.defined()) {
    return "not a live tensor of this thread (it has been disposed, or it was made in another thread: send data between threads, not tensors)";
  }
  return nullptr;
}

at::Tensor* TensorTable::find(int64_t h) {
  int64_t index = indexOf(h);
  if (index < 0 || !slots_[index].tensor.defined()) return nullptr;
  return &slots_[index].tensor;
}

bool TensorTable::valid(int64_t h) const { return problem(h) == nullptr; }

at::Tensor& TensorTable::get(int64_t h) {
  if (at::Tensor* t = find(h)) return *t;
  throw ArgError(std::string("expected a live tensor, got ") + problem(h));
}

void TensorTable::release(int64_t h) {
  int64_t index = indexOf(h);
  if (index < 0) return;  // not ours to free
  Slot& slot = slots_[index];
  pendingBytes_ -= ownedBytes(slot.tensor);
  slot.tensor = at::Tensor();
  slot.handle = 0;
  slot.generation = (slot.generation + 1) & kGenerationMask;
  free_.push_back(static_cast<uint32_t>(index));
  --live_;
  if (pendingBytes_ > kExternalMemoryFlushBytes || pendingBytes_ < -kExternalMemoryFlushBytes) flushExternalMemory(currentEnv);
}

void TensorTable::flushExternalMemory(napi_env env) {
  if (!env || pendingBytes_ == 0) return;
  int64_t result;
  napi_adjust_external_memory(env, pendingBytes_, &result);
  pendingBytes_ = 0;
}

void TensorTable::clear() {
  slots_.clear();
  free_.clear();
  live_ = 0;
}

void initTable(Napi::Env env) {
  auto* t = new TensorTable();
  currentTable = t;
  currentEnv = env;
  // Freed with the environment (a worker thread exiting), together with every tensor it still holds.
  env.SetInstanceData<TensorTable>(t);
}

// ---------------------------------------------------------------- arguments
namespace {
Napi::Value argAt(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() ? info[i] : info.Env().Undefined(); }
std::string nth(size_t i) { return "argument " + std::to_string(i + 1); }
}  // namespace

bool hasArg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length()) return false;
  auto v = info[i];
  return !v.IsUndefined() && !v.IsNull();
}

at::Tensor& tensorArg(const Napi::CallbackInfo& info, size_t i) {
  // The hottest path of every op: one engine call, which fails for anything that is not a number.
  int64_t h;
  if (i >= info.Length() || napi_get_value_int64(info.Env(), info[i], &h) != napi_ok) throw ArgError(nth(i) + " must be a Tensor");
  auto& t = table();
  if (at::Tensor* found = t.find(h)) return *found;
  throw ArgError(nth(i) + " is " + t.problem(h));
}

c10::optional<at::Tensor> optTensorArg(const Napi::CallbackInfo& info, size_t i) {
  if (!hasArg(info, i)) return c10::nullopt;
  auto v = info[i];
  if (v.IsNumber() && v.As<Napi::Number>().Int64Value() < 0) return c10::nullopt;
  return tensorArg(info, i);
}

std::vector<at::Tensor> tensorListArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (!v.IsArray()) throw ArgError(nth(i) + " must be an array of Tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value e = arr[k];
    if (!e.IsNumber()) throw ArgError(nth(i) + "[" + std::to_string(k) + "] must be a Tensor");
    int64_t h = e.As<Napi::Number>().Int64Value();
    if (const char* why = table().problem(h)) throw ArgError(nth(i) + "[" + std::to_string(k) + "] is " + why);
    out.push_back(table().get(h));
  }
  return out;
}

double numberArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
  if (!v.IsNumber()) throw ArgError(nth(i) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t intArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (!v.IsNumber()) throw ArgError(nth(i) + " must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) throw ArgError(nth(i) + " must be an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

bool boolArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBoolean()) throw ArgError(nth(i) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string stringArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (!v.IsString()) throw ArgError(nth(i) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> intListArg(const Napi::CallbackInfo& info, size_t i) {
  auto v = argAt(info, i);
  if (v.IsNumber()) return {intArg(info, i)};
  if (!v.IsArray()) throw ArgError(nth(i) + " must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value e = arr[k];
    if (!e.IsNumber()) throw ArgError(nth(i) + " must be an array of integers");
    double d = e.As<Napi::Number>().DoubleValue();
    if (d != static_cast<double>(static_cast<int64_t>(d))) throw ArgError(nth(i) + " must contain integers only");
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
      throw ArgError(nth(i) + " is not a supported dtype");
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
  if (!v.IsNumber()) throw ArgError(nth(i) + " must be a number");
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

// ---------------------------------------------------------------- guard
Napi::Value guarded(const Napi::CallbackInfo& info, Impl impl) {
  const char* name = static_cast<const char*>(info.Data());
  auto fail = [&](const std::string& msg, bool typeError) -> Napi::Value {
    std::string text = std::string(name) + ": " + msg.substr(0, msg.find('\n'));
    if (typeError) throw Napi::TypeError::New(info.Env(), text);
    throw Napi::Error::New(info.Env(), text);
  };
  try {
    return impl(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const ArgError& e) {
    return fail(e.what(), true);
  } catch (const c10::Error& e) {
    return fail(e.what_without_backtrace(), false);
  } catch (const std::exception& e) {
    return fail(e.what(), false);
  } catch (...) {
    return fail("unknown native error", false);
  }
}

void throwQuietly(napi_env env, const Napi::Error* error, const char* message) noexcept {
  try {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
    napi_value value = nullptr;
    if (error) value = error->Value();
    if (!value) {
      napi_value text;
      if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text) != napi_ok) return;
      if (napi_create_error(env, nullptr, text, &value) != napi_ok) return;
    }
    // Fails only while the environment is being torn down (a worker terminated mid-call): nothing can catch it.
    napi_throw(env, value);
  } catch (...) {
  }
}

napi_value enter(napi_env env, napi_callback_info cbinfo, Impl impl) noexcept {
  try {
    Napi::CallbackInfo info(env, cbinfo);
    return guarded(info, impl);
  } catch (const Napi::Error& e) {
    throwQuietly(env, &e, "native error");
  } catch (...) {
    throwQuietly(env, nullptr, "native error");
  }
  return nullptr;
}

void exportFunction(Napi::Object exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_status status = napi_create_function(exports.Env(), name, NAPI_AUTO_LENGTH, cb, const_cast<char*>(name), &fn);
  NAPI_THROW_IF_FAILED_VOID(exports.Env(), status);
  exports.Set(name, Napi::Value(exports.Env(), fn));
}

// ---------------------------------------------------------------- creation
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

// ---------------------------------------------------------------- metadata
Napi::Value shape(const Napi::CallbackInfo& info) {
  auto& t = tensorArg(info, 0);
  auto sizes = t.sizes();
  auto arr = Napi::Array::New(info.Env(), sizes.size());
  for (size_t k = 0; k < sizes.size(); ++k) arr.Set(static_cast<uint32_t>(k), Napi::Number::New(info.Env(), static_cast<double>(sizes[k])));
  return arr;
}
Napi::Value dtype(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<int>(tensorArg(info, 0).scalar_type())); }
Napi::Value device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), tensorArg(info, 0).device().str()); }
Napi::Value numel(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(tensorArg(info, 0).numel())); }
Napi::Value dim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(tensorArg(info, 0).dim())); }
Napi::Value requiresGrad(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), tensorArg(info, 0).requires_grad()); }
Napi::Value isLeaf(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), tensorArg(info, 0).is_leaf()); }
Napi::Value isContiguous(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), tensorArg(info, 0).is_contiguous()); }
Napi::Value isValid(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), info.Length() > 0 && info[0].IsNumber() && table().valid(info[0].As<Napi::Number>().Int64Value()));
}
Napi::Value sameStorage(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensorArg(info, 0).is_alias_of(tensorArg(info, 1)));
}

// ---------------------------------------------------------------- conversion and read-back
// (h, dtype|-1, device|null, copy)
Napi::Value to(const Napi::CallbackInfo& info) {
  auto& t = tensorArg(info, 0);
  auto dtype = optDtypeArg(info, 1).value_or(t.scalar_type());
  auto dev = hasArg(info, 2) ? deviceArg(info, 2) : t.device();
  return wrap(info.Env(), t.to(dev, dtype, /*non_blocking=*/false, /*copy=*/boolArg(info, 3)));
}

// The CPU, contiguous tensor whose bytes JavaScript reads; half precision types are widened to float32.
at::Tensor readable(const at::Tensor& t) {
  auto r = t.detach();
  if (r.scalar_type() == at::kHalf || r.scalar_type() == at::kBFloat16) r = r.to(at::kFloat);
  return r.to(at::kCPU).contiguous();
}

Napi::Value typedArrayOf(Napi::Env env, const at::Tensor& r) {
  size_t n = static_cast<size_t>(r.numel());
  size_t bytes = n * r.element_size();
  auto ab = Napi::ArrayBuffer::New(env, bytes);
  if (bytes) std::memcpy(ab.Data(), r.data_ptr(), bytes);
  switch (r.scalar_type()) {
    case at::kFloat: return Napi::Float32Array::New(env, n, ab, 0);
    case at::kDouble: return Napi::Float64Array::New(env, n, ab, 0);
    case at::kLong: return Napi::BigInt64Array::New(env, n, ab, 0);
    case at::kInt: return Napi::Int32Array::New(env, n, ab, 0);
    case at::kShort: return Napi::Int16Array::New(env, n, ab, 0);
    case at::kChar: return Napi::Int8Array::New(env, n, ab, 0);
    case at::kByte: case at::kBool: return Napi::Uint8Array::New(env, n, ab, 0);
    default: throw ArgError(std::string("cannot read back dtype ") + c10::toString(r.scalar_type()));
  }
}

Napi::Value dataSync(const Napi::CallbackInfo& info) { return typedArrayOf(info.Env(), readable(tensorArg(info, 0))); }

// The raw bytes in the tensor's own dtype (float16 stays float16), for writing files.
Napi::Value bytes(const Napi::CallbackInfo& info) {
  auto r = tensorArg(info, 0).detach().to(at::kCPU).contiguous();
  size_t n = static_cast<size_t>(r.numel()) * r.element_size();
  auto buf = Napi::Buffer<uint8_t>::New(info.Env(), n);
  if (n) std::memcpy(buf.Data(), r.data_ptr(), n);
  return buf;
}

// Copies to the CPU on libuv's thread pool so the event loop keeps running while a GPU finishes. Plain Node-API
// async work rather than Napi::AsyncWorker: its completion runs while a worker thread is being terminated too,
// and must then drop the result quietly instead of throwing out of a C callback (which aborts the process).
struct DataJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  at::Tensor t, r;
  std::string error;
};

void dataExecute(napi_env, void* data) {
  auto* job = static_cast<DataJob*>(data);
  try {
    job->r = readable(job->t);
  } catch (const c10::Error& e) {
    std::string m = e.what_without_backtrace();
    job->error = "data: " + m.substr(0, m.find('\n'));
  } catch (const std::exception& e) {
    job->error = std::string("data: ") + e.what();
  } catch (...) {
    job->error = "data: unknown native error";
  }
  job->t = at::Tensor();
}

void dataComplete(napi_env env, napi_status status, void* data) noexcept {
  std::unique_ptr<DataJob> job(static_cast<DataJob*>(data));
  napi_delete_async_work(env, job->work);
  if (status == napi_cancelled) return;  // the environment is going away; the promise can never be observed
  try {
    napi_value value = nullptr;
    bool ok = job->error.empty();
    if (ok) {
      try {
        value = typedArrayOf(Napi::Env(env), job->r);
      } catch (const Napi::Error&) {
        return;  // a Node-API call failed: only while the environment is being torn down
      } catch (const std::exception& e) {
        ok = false;
        job->error = std::string("data: ") + e.what();
      }
    }
    if (!ok) {
      napi_value text;
      if (napi_create_string_utf8(env, job->error.c_str(), job->error.size(), &text) != napi_ok) return;
      if (napi_create_error(env, nullptr, text, &value) != napi_ok) return;
    }
    if (ok) napi_resolve_deferred(env, job->deferred, value);
    else napi_reject_deferred(env, job->deferred, value);
  } catch (...) {
  }
}

Napi::Value dataAsync(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto job = std::make_unique<DataJob>();
  job->t = tensorArg(info, 0);
  napi_value promise, name;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &job->deferred, &promise), Napi::Value());
  NAPI_THROW_IF_FAILED(env, napi_create_string_utf8(env, "torch-lora:data", NAPI_AUTO_LENGTH, &name), Napi::Value());
  NAPI_THROW_IF_FAILED(env, napi_create_async_work(env, nullptr, name, dataExecute, dataComplete, job.get(), &job->work), Napi::Value());
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    throw ArgError("cannot queue the read-back");
  }
  job.release();  // owned by dataComplete from here on
  return Napi::Value(env, promise);
}

Napi::Value item(const Napi::CallbackInfo& info) {
  auto& t = tensorArg(info, 0);
  if (t.numel() != 1) throw ArgError("a Tensor with " + std::to_string(t.numel()) + " elements cannot be converted to a number");
  auto s = t.item();
  if (s.isBoolean()) return Napi::Boolean::New(info.Env(), s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(info.Env(), static_cast<double>(s.toLong()));
  return Napi::Number::New(info.Env(), s.toDouble());
}

// ---------------------------------------------------------------- memory
Napi::Value dispose(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) table().release(info[0].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

Napi::Value disposeMany(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsArray()) {
    auto arr = info[0].As<Napi::Array>();
    for (uint32_t k = 0; k < arr.Length(); ++k) {
      Napi::Value e = arr[k];
      if (e.IsNumber()) table().release(e.As<Napi::Number>().Int64Value());
    }
  }
  return info.Env().Undefined();
}

// Live handles, and bytes per device counted once per storage (views share their base's bytes).
Napi::Value memory(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto& tab = table();
  std::unordered_set<const void*> seen;
  std::map<std::string, double> bytesByDevice;
  double total = 0;
  for (const auto& slot : tab.slots()) {
    const at::Tensor& t = slot.tensor;
    if (!t.defined() || !t.has_storage()) continue;
    const void* key = t.storage().unsafeGetStorageImpl();
    if (!seen.insert(key).second) continue;
    double b = static_cast<double>(t.storage().nbytes());
    bytesByDevice[t.device().str()] += b;
    total += b;
  }
  auto out = Napi::Object::New(env);
  out.Set("numTensors", Napi::Number::New(env, static_cast<double>(tab.live())));
  out.Set("numBytes", Napi::Number::New(env, total));
  auto per = Napi::Object::New(env);
  for (auto& kv : bytesByDevice) per.Set(kv.first, Napi::Number::New(env, kv.second));
  out.Set("bytesByDevice", per);
  out.Set("tableSize", Napi::Number::New(env, static_cast<double>(tab.slots().size())));
  return out;
}

// ---------------------------------------------------------------- runtime
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
Napi::Value noop(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }
}  // namespace

void registerCore(Napi::Env env, Napi::Object exports) {
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
  TL_EXPORT(exports, "shape", shape);
  TL_EXPORT(exports, "dtype", dtype);
  TL_EXPORT(exports, "device", device);
  TL_EXPORT(exports, "numel", numel);
  TL_EXPORT(exports, "dim", dim);
  TL_EXPORT(exports, "requiresGrad", requiresGrad);
  TL_EXPORT(exports, "isLeaf", isLeaf);
  TL_EXPORT(exports, "isContiguous", isContiguous);
  TL_EXPORT(exports, "isValid", isValid);
  TL_EXPORT(exports, "sameStorage", sameStorage);
  TL_EXPORT(exports, "to", to);
  TL_EXPORT(exports, "dataSync", dataSync);
  TL_EXPORT(exports, "bytes", bytes);
  TL_EXPORT(exports, "dataAsync", dataAsync);
  TL_EXPORT(exports, "item", item);
  TL_EXPORT(exports, "dispose", dispose);
  TL_EXPORT(exports, "disposeMany", disposeMany);
  TL_EXPORT(exports, "memory", memory);
  TL_EXPORT(exports, "cudaIsAvailable", cudaIsAvailable);
  TL_EXPORT(exports, "cudaDeviceCount", cudaDeviceCount);
  TL_EXPORT(exports, "cudaSynchronize", cudaSynchronize);
  TL_EXPORT(exports, "getNumThreads", getNumThreads);
  TL_EXPORT(exports, "setNumThreads", setNumThreads);
  TL_EXPORT(exports, "version", version);
  TL_EXPORT(exports, "parallelInfo", parallelInfo);
  TL_EXPORT(exports, "noop", noop);
}

}  // namespace tl

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tl::initTable(env);
  tl::registerFileRead(env, exports);
  tl::registerCpuTuning(env, exports);
  tl::registerCore(env, exports);
  tl::registerOps(env, exports);
  tl::registerNN(env, exports);
  tl::registerAutograd(env, exports);
  tl::dist::registerDistributed(env, exports);
  return exports;
}

NODE_API_MODULE(torch_lora, Init)
