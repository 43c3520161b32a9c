// Disposing tensors and the memory statistics (live handles, bytes per device counted once per storage).
#include "bind.h"
#include "common.h"

#include <map>
#include <string>
#include <unordered_set>

namespace tl {
namespace {

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
}  // namespace

void registerMemory(Napi::Env env, Napi::Object exports) {
  TL_EXPORT(exports, "dispose", dispose);
  TL_EXPORT(exports, "disposeMany", disposeMany);
  // Before a dispose whose memory should go back to the system rather than to the CPU cache (Module.to).
  TL_BIND(exports, "skipCache", [](at::Tensor& t) { skipCpuCache(t); });
  TL_EXPORT(exports, "memory", memory);
}

}  // namespace tl
