// Shared by every translation unit: the tensor handle table, argument readers and the exception guard.
// Only ATen and autograd headers are included (torch/torch.h costs ~30 s of compile time per file).
#pragma once
#include <napi.h>
#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace tl {

// Tensors live in a per-thread table (one per Node environment: the main thread or a worker) and JavaScript
// holds plain integer handles. Creating a JS object per tensor in C++ costs more than the op itself.
// A handle is not a bare slot index: it packs the slot (20 bits) and the slot's generation (11 bits, bumped at each
// release), scrambled with the table's own random key, in 31 bits so that it stays a small integer for V8 (a larger
// number would be a heap-allocated double at every call). So a stale handle (its slot reused since), another
// thread's handle or a made-up number (NaN reads as 0) almost never names a live tensor of this table, and is
// refused instead of reaching someone else's tensor.
class TensorTable {
 public:
  TensorTable();
  int64_t insert(at::Tensor t);
  at::Tensor& get(int64_t handle);  // throws on a bad or disposed handle
  bool valid(int64_t handle) const;
  // Why `handle` is not usable ("has been disposed", ...), or nullptr when it is.
  const char* problem(int64_t handle) const;
  // The tensor, or nullptr for a bad or disposed handle: the one check on the hot path of every op.
  at::Tensor* find(int64_t handle);
  void release(int64_t handle);
  size_t live() const { return live_; }
  // One entry per slot (16 bytes): the tensor, the handle that reaches it (0 while the slot is free, and no handle
  // is 0) and the slot's generation.
  struct Slot {
    at::Tensor tensor;
    uint32_t handle;
    uint32_t generation;
  };
  const std::vector<Slot>& slots() const { return slots_; }
  void flushExternalMemory(napi_env env);
  int64_t pendingBytes() const { return pendingBytes_; }
  void clear();

 private:
  // The slot whose live handle is `handle`, or -1 (a free slot's handle is 0, and no handle is 0).
  int64_t indexOf(int64_t handle) const;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  uint32_t key_;                       // this table's scrambling key, 31 random bits
  size_t live_ = 0;
  int64_t pendingBytes_ = 0;  // external-memory delta not yet reported to V8
};

TensorTable& table();
void initTable(Napi::Env env);

// Thrown for argument errors detected before libtorch is called.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- argument readers ----
at::Tensor& tensorArg(const Napi::CallbackInfo& info, size_t i);
c10::optional<at::Tensor> optTensorArg(const Napi::CallbackInfo& info, size_t i);  // -1, null or undefined -> none
std::vector<at::Tensor> tensorListArg(const Napi::CallbackInfo& info, size_t i);
double numberArg(const Napi::CallbackInfo& info, size_t i);
int64_t intArg(const Napi::CallbackInfo& info, size_t i);
bool boolArg(const Napi::CallbackInfo& info, size_t i);
bool hasArg(const Napi::CallbackInfo& info, size_t i);  // present and not null/undefined
Napi::Value argAt(const Napi::CallbackInfo& info, size_t i);  // the argument, or undefined when missing
std::string argName(size_t i);                                 // "argument 2" for index 1, as the errors say
std::string stringArg(const Napi::CallbackInfo& info, size_t i);
std::vector<int64_t> intListArg(const Napi::CallbackInfo& info, size_t i);
at::ScalarType dtypeArg(const Napi::CallbackInfo& info, size_t i);
c10::optional<at::ScalarType> optDtypeArg(const Napi::CallbackInfo& info, size_t i);  // -1 or missing -> none
at::Device deviceArg(const Napi::CallbackInfo& info, size_t i);
at::Scalar scalarArg(const Napi::CallbackInfo& info, size_t i);  // number or boolean

// ---- results ----
Napi::Value wrap(Napi::Env env, at::Tensor t);  // inserts into the table, returns the handle
Napi::Value wrapList(Napi::Env env, const std::vector<at::Tensor>& ts);

// Every native entry point runs inside this guard: libtorch's exceptions become JavaScript errors that carry
// the op name and the first line of libtorch's message. Nothing escapes into Node as a C++ exception.
using Impl = Napi::Value (*)(const Napi::CallbackInfo&);
Napi::Value guarded(const Napi::CallbackInfo& info, Impl impl);

// The C callback Node calls. It is ours rather than node-addon-api's wrapper because that wrapper rethrows when
// it cannot raise the error in JavaScript, which is always the case while a worker thread is being terminated
// (every Node-API call that may run JS then fails): the C++ exception left a noexcept frame and the whole
// process aborted ("terminate called after throwing an instance of 'Napi::Error'", about one run in four of
// test/worker.test.ts). Here a failure to throw is dropped: the environment is going away, nobody is listening.
napi_value enter(napi_env env, napi_callback_info cbinfo, Impl impl) noexcept;

template <Impl F>
napi_value Entry(napi_env env, napi_callback_info cbinfo) noexcept {
  return enter(env, cbinfo, F);
}

// Throws `error` (or a new Error with `message` when it is empty) in JavaScript if the environment still can;
// never throws in C++.
void throwQuietly(napi_env env, const Napi::Error* error, const char* message) noexcept;

void exportFunction(Napi::Object exports, const char* name, napi_callback cb);

#define TL_EXPORT(exports, name, fn) ::tl::exportFunction(exports, name, ::tl::Entry<fn>)

void registerCreation(Napi::Env env, Napi::Object exports);    // native/creation.cc
void registerReadBack(Napi::Env env, Napi::Object exports);    // native/read_back.cc
void registerMemory(Napi::Env env, Napi::Object exports);      // native/memory.cc
void registerRuntime(Napi::Env env, Napi::Object exports);     // native/runtime.cc
void registerOps(Napi::Env env, Napi::Object exports);
void registerNN(Napi::Env env, Napi::Object exports);
void registerAutograd(Napi::Env env, Napi::Object exports);
void registerOptimizers(Napi::Env env, Napi::Object exports);  // native/optimizers.cc
void registerFileRead(Napi::Env env, Napi::Object exports);
void registerCpuTuning(Napi::Env env, Napi::Object exports);
// native/cpu_tuning.cc: when `t` holds the last reference to a large block of the CPU cache's allocator, the block
// is unmapped when freed instead of cached.
void skipCpuCache(const at::Tensor& t);
namespace dist {
void registerDistributed(Napi::Env env, Napi::Object exports);  // native/distributed.cc
}

}  // namespace tl
