#include "distributed_async.h"

#include <string>

namespace tl {
namespace dist {
namespace {

struct Job {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::string name;
  std::function<void()> body;
  std::shared_ptr<std::vector<at::Tensor>> results;
  bool single = false;
  std::string error;
};

void execute(napi_env, void* data) {
  auto* job = static_cast<Job*>(data);
  try {
    job->body();
  } catch (const c10::Error& e) {
    job->error = firstLine(e.what_without_backtrace());
  } catch (const std::exception& e) {
    job->error = firstLine(e.what());
  } catch (...) {
    job->error = "unknown native error";
  }
  // Names the operation once: waitFor's messages already start with it.
  if (!job->error.empty() && job->error.rfind(job->name + ":", 0) != 0) job->error = job->name + ": " + job->error;
  job->body = nullptr;  // drops the tensors and work it captured, here rather than on the JavaScript thread
}

void complete(napi_env env, napi_status status, void* data) noexcept {
  std::unique_ptr<Job> job(static_cast<Job*>(data));
  napi_delete_async_work(env, job->work);
  if (status == napi_cancelled) return;  // the environment is going away; nobody can observe the promise
  try {
    napi_value value = nullptr;
    bool ok = job->error.empty();
    if (ok) {
      try {
        Napi::Env e(env);
        if (!job->results) value = e.Undefined();
        else if (job->single) value = wrap(e, job->results->at(0));
        else value = wrapList(e, *job->results);
      } catch (const Napi::Error&) {
        return;  // a Node-API call failed: only while the environment is being torn down
      } catch (const std::exception& ex) {
        ok = false;
        job->error = job->name + ": " + ex.what();
      }
    }
    if (!ok) {
      napi_value text;
      if (napi_create_string_utf8(env, job->error.c_str(), job->error.size(), &text) != napi_ok) return;
      if (napi_create_error(env, nullptr, text, &value) != napi_ok) return;
      napi_reject_deferred(env, job->deferred, value);
    } else {
      napi_resolve_deferred(env, job->deferred, value);
    }
  } catch (...) {
  }
}

}  // namespace

std::string firstLine(const std::string& m) { return m.substr(0, m.find('\n')); }

Napi::Value queuePromiseJob(Napi::Env env, const char* name, std::function<void()> body,
                            std::shared_ptr<std::vector<at::Tensor>> results, bool single) {
  auto job = std::make_unique<Job>();
  job->name = name;
  job->body = std::move(body);
  job->results = std::move(results);
  job->single = single;
  napi_value promise, resource;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &job->deferred, &promise), Napi::Value());
  std::string label = std::string("torch-lora:") + name;
  NAPI_THROW_IF_FAILED(env, napi_create_string_utf8(env, label.c_str(), label.size(), &resource), Napi::Value());
  NAPI_THROW_IF_FAILED(env, napi_create_async_work(env, nullptr, resource, execute, complete, job.get(), &job->work), Napi::Value());
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    throw ArgError(std::string("cannot queue ") + name);
  }
  job.release();  // owned by complete() from here on
  return Napi::Value(env, promise);
}

}  // namespace dist
}  // namespace tl
