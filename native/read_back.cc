// Tensor metadata, dtype/device conversion, and reading values back into JavaScript (sync and on the thread pool).
#include "bind.h"
#include "common.h"

#include <cstring>
#include <memory>

namespace tl {
namespace {

// ---------------------------------------------------------------- conversion and read-back
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

// The raw bytes in the tensor's own dtype (float16 stays float16), for writing files.
Napi::Value bytes(Napi::Env env, at::Tensor& t) {
  auto r = t.detach().to(at::kCPU).contiguous();
  size_t n = static_cast<size_t>(r.numel()) * r.element_size();
  auto buf = Napi::Buffer<uint8_t>::New(env, n);
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

Napi::Value dataAsync(Napi::Env env, at::Tensor& t) {
  auto job = std::make_unique<DataJob>();
  job->t = t;
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
}  // namespace

void registerReadBack(Napi::Env env, Napi::Object exports) {
  using T = at::Tensor;
  TL_BIND(exports, "shape", [](T& t) { return t.sizes().vec(); });
  TL_BIND(exports, "dtype", [](T& t) { return static_cast<int64_t>(t.scalar_type()); });
  TL_BIND(exports, "device", [](T& t) { return t.device().str(); });
  TL_BIND(exports, "numel", [](T& t) { return static_cast<int64_t>(t.numel()); });
  TL_BIND(exports, "dim", [](T& t) { return static_cast<int64_t>(t.dim()); });
  TL_BIND(exports, "requiresGrad", [](T& t) { return t.requires_grad(); });
  TL_BIND(exports, "isLeaf", [](T& t) { return t.is_leaf(); });
  TL_BIND(exports, "isContiguous", [](T& t) { return t.is_contiguous(); });
  // (h, dtype|-1, device|null, copy): the tensor's own dtype and device where absent
  TL_BIND(exports, "to", [](T& t, c10::optional<at::ScalarType> dtype, c10::optional<at::Device> device, bool copy) {
    return t.to(device.value_or(t.device()), dtype.value_or(t.scalar_type()), /*non_blocking=*/false, copy);
  });
  // (anything): whether it is a live handle of this thread's table
  TL_BIND(exports, "isValid", [](Napi::Value h) { return h.IsNumber() && table().valid(h.As<Napi::Number>().Int64Value()); });
  TL_BIND(exports, "dataSync", [](Napi::Env env, T& t) { return typedArrayOf(env, readable(t)); });
  TL_BIND(exports, "bytes", bytes);
  TL_BIND(exports, "dataAsync", dataAsync);
  TL_BIND(exports, "item", [](T& t) {  // a boolean or a number, as the element's dtype
    if (t.numel() != 1) throw ArgError("a Tensor with " + std::to_string(t.numel()) + " elements cannot be converted to a number");
    return t.item();
  });
}

}  // namespace tl
