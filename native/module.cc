// The module's entry: one tensor table per Node environment (main thread or worker), then every entry point.
#include "common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tl::initTable(env);
  tl::registerFileRead(env, exports);
  tl::registerCpuTuning(env, exports);
  tl::registerCreation(env, exports);
  tl::registerReadBack(env, exports);
  tl::registerMemory(env, exports);
  tl::registerRuntime(env, exports);
  tl::registerOps(env, exports);
  tl::registerNN(env, exports);
  tl::registerAutograd(env, exports);
  tl::registerOptimizers(env, exports);
  tl::dist::registerDistributed(env, exports);
  return exports;
}

NODE_API_MODULE(torch_lora, Init)
