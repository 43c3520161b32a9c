// The error guard every entry point runs in: no C++ exception reaches Node, and failures become JavaScript errors
// that name the op (common.h, guarded and enter).
#include "common.h"

namespace tl {

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

}  // namespace tl
