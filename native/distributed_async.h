// Promise-returning native work for the collectives: the body runs on libuv's thread pool, the promise settles on
// the JavaScript thread. Plain Node-API async work (as read_back.cc's dataAsync) rather than Napi::AsyncWorker: the
// completion also runs while a worker thread is being terminated, and must then drop its result quietly instead of
// throwing out of a C callback (which aborts the process).
#pragma once
#include "common.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tl {
namespace dist {

// Runs `body` off the JavaScript thread. The promise resolves to undefined when `results` is null, to the tensor
// handle results->at(0) when `single`, to an array of handles otherwise; it rejects with "<name>: <message>" when
// `body` throws.
Napi::Value queuePromiseJob(Napi::Env env, const char* name, std::function<void()> body,
                            std::shared_ptr<std::vector<at::Tensor>> results, bool single = false);

// The first line of an exception message (libtorch's carry a backtrace after it).
std::string firstLine(const std::string& message);

void registerDdp(Napi::Env env, Napi::Object exports);

}  // namespace dist
}  // namespace tl
