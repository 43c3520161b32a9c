// Typed argument binding for the entry points outside the op tables: TL_BIND(exports, "name", lambda) reads each
// of the lambda's parameters with the argument reader for its C++ type (Reader below), in order, calls it, and
// writes its result back (a Tensor becomes a handle, a list or pair of Tensors an array of handles, an optional's
// none null, void undefined). So an irregular entry point is one lambda whose signature is its argument convention, instead of
// a function that indexes `info` by hand; its TypeScript declaration is in lib/native-binding.ts.
//
//   TL_BIND(exports, "cumsum", [](at::Tensor& a, int64_t dim) { return at::cumsum(a, dim); });
//
// An optional parameter (c10::optional<T>) reads null or undefined (or a missing argument) as none.
#pragma once
#include "common.h"

#include <tuple>
#include <type_traits>
#include <utility>

namespace tl {
namespace bound {

using Info = Napi::CallbackInfo;

// The reader for a parameter of (decayed) type T.
template <typename T>
struct Reader;
template <>
struct Reader<at::Tensor> {  // read by reference: in-place ops change the table's tensor
  static at::Tensor& read(const Info& info, size_t i) { return tensorArg(info, i); }
};
template <>
struct Reader<c10::optional<at::Tensor>> {  // also -1, what lib/ passes for "no tensor"
  static c10::optional<at::Tensor> read(const Info& info, size_t i) { return optTensorArg(info, i); }
};
template <>
struct Reader<std::vector<at::Tensor>> {
  static std::vector<at::Tensor> read(const Info& info, size_t i) { return tensorListArg(info, i); }
};
template <>
struct Reader<double> {
  static double read(const Info& info, size_t i) { return numberArg(info, i); }
};
template <>
struct Reader<int64_t> {
  static int64_t read(const Info& info, size_t i) { return intArg(info, i); }
};
template <>
struct Reader<bool> {  // null and undefined read as false
  static bool read(const Info& info, size_t i) { return boolArg(info, i); }
};
template <>
struct Reader<std::string> {
  static std::string read(const Info& info, size_t i) { return stringArg(info, i); }
};
template <>
struct Reader<std::vector<int64_t>> {  // a bare number reads as a list of one
  static std::vector<int64_t> read(const Info& info, size_t i) { return intListArg(info, i); }
};
template <>
struct Reader<at::Scalar> {
  static at::Scalar read(const Info& info, size_t i) { return scalarArg(info, i); }
};
template <>
struct Reader<at::ScalarType> {
  static at::ScalarType read(const Info& info, size_t i) { return dtypeArg(info, i); }
};
template <>
struct Reader<c10::optional<at::ScalarType>> {  // also -1, what lib/ passes for "keep the dtype"
  static c10::optional<at::ScalarType> read(const Info& info, size_t i) { return optDtypeArg(info, i); }
};
template <>
struct Reader<at::Device> {
  static at::Device read(const Info& info, size_t i) { return deviceArg(info, i); }
};
// Any other optional: none for null, undefined or a missing argument, else T's reader.
template <typename T>
struct Reader<c10::optional<T>> {
  static c10::optional<T> read(const Info& info, size_t i) {
    if (!hasArg(info, i)) return c10::nullopt;
    return Reader<T>::read(info, i);
  }
};

template <typename T>
using ReaderOf = Reader<std::remove_cv_t<std::remove_reference_t<T>>>;

// Results.
inline Napi::Value write(Napi::Env env, at::Tensor t) { return wrap(env, std::move(t)); }
inline Napi::Value write(Napi::Env env, bool b) { return Napi::Boolean::New(env, b); }
inline Napi::Value write(Napi::Env env, double d) { return Napi::Number::New(env, d); }
inline Napi::Value write(Napi::Env env, int64_t n) { return Napi::Number::New(env, static_cast<double>(n)); }
inline Napi::Value write(Napi::Env env, const std::vector<int64_t>& ns) {
  auto arr = Napi::Array::New(env, ns.size());
  for (size_t k = 0; k < ns.size(); ++k) arr.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>(ns[k])));
  return arr;
}
inline Napi::Value write(Napi::Env env, const std::string& s) { return Napi::String::New(env, s); }
// none is null
template <typename R>
Napi::Value write(Napi::Env env, const c10::optional<R>& r) {
  if (!r) return env.Null();
  return write(env, *r);
}
inline Napi::Value write(Napi::Env env, const std::vector<at::Tensor>& ts) { return wrapList(env, ts); }
inline Napi::Value write(Napi::Env env, const std::tuple<at::Tensor, at::Tensor>& r) {
  return wrapList(env, {std::get<0>(r), std::get<1>(r)});
}

// The parameter and result types of a lambda (or a function pointer).
template <typename F>
struct Signature : Signature<decltype(&F::operator())> {};
template <typename C, typename R, typename... A>
struct Signature<R (C::*)(A...) const> {
  using Result = R;
  using Params = std::tuple<A...>;
};
template <typename R, typename... A>
struct Signature<R (*)(A...)> {
  using Result = R;
  using Params = std::tuple<A...>;
};

template <typename F, typename... A, size_t... I>
Napi::Value call(const Info& info, const F& fn, std::tuple<A...>*, std::index_sequence<I...>) {
  // Braced initialisation evaluates left to right: the first bad argument is the one reported, as before.
  std::tuple<decltype(ReaderOf<A>::read(info, 0))...> args{ReaderOf<A>::read(info, I)...};
  using R = typename Signature<F>::Result;
  if constexpr (std::is_void_v<R>) {
    std::apply(fn, std::move(args));
    return info.Env().Undefined();
  } else {
    return write(info.Env(), std::apply(fn, std::move(args)));
  }
}

template <typename F>
Napi::Value invoke(const Info& info, const F& fn) {
  using Params = typename Signature<F>::Params;
  return call(info, fn, static_cast<Params*>(nullptr), std::make_index_sequence<std::tuple_size<Params>::value>());
}

}  // namespace bound
}  // namespace tl

// A local struct gives each binding its own static functions: `call` reads, calls and writes; `entry` is the C
// callback Node calls, which runs `call` inside the error guard (common.h's enter). A local class's function
// cannot be a template argument of Entry<>, hence the second function.
#define TL_BIND(exports, name, ...)                                                                                   \
  do {                                                                                                                \
    struct Bound {                                                                                                    \
      static Napi::Value call(const Napi::CallbackInfo& info) { return ::tl::bound::invoke(info, __VA_ARGS__); }        \
      static napi_value entry(napi_env env, napi_callback_info cbinfo) noexcept { return ::tl::enter(env, cbinfo, call); } \
    };                                                                                                                \
    ::tl::exportFunction(exports, name, Bound::entry);                                                                \
  } while (0)
