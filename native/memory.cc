// Disposing tensors and the memory statistics (live handles, bytes per device counted once per storage).
#include "bind.h"
#include "common.h"

#include <map>
#include <string>
#include <unordered_set>

namespace tl {
namespace {

// Disposing is lenient: anything but a handle (a disposed tensor's -1, a stale handle) is ignored, so that freeing
// twice, or freeing in a finalizer after a scope did, is harmless.
void dispose(Napi::Value h) {
  if (h.IsNumber()) table().release(h.As<Napi::Number>().Int64Value());
}

void disposeMany(Napi::Value hs) {
  if (!hs.IsArray()) return;
  auto arr = hs.As<Napi::Array>();
  for (uint32_t k = 0; k < arr.Length(); ++k) dispose(Napi::Value(arr[k]));
}

// Live handles, and bytes per device counted once per storage (views share their base's bytes).
Napi::Value memory(Napi::Env env) {
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
}  // namespace

void registerMemory(Napi::Env env, Napi::Object exports) {
  TL_BIND(exports, "dispose", dispose);
  TL_BIND(exports, "disposeMany", disposeMany);
  // Before a dispose whose memory should go back to the system rather than to the CPU cache (Module.to).
  TL_BIND(exports, "skipCache", [](at::Tensor& t) { skipCpuCache(t); });
  TL_BIND(exports, "memory", memory);
}

}  // namespace tl
