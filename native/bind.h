// Typed argument binding for the entry points outside the op tables: TL_BIND(exports, "name", fn) reads each of
// fn's parameters with the argument reader for its C++ type (Reader below), in order, calls it, and writes its
// result back (a Tensor becomes a handle, a list or pair of Tensors an array of handles, an optional's none null,
// void undefined, a Napi::Value itself). So an irregular entry point is one lambda (or one function, for a long
// body) whose signature is its argument convention, instead of a function that indexes `info` by hand; its
// TypeScript declaration is in lib/native-binding.ts.
//
//   TL_BIND(exports, "cumsum", [](at::Tensor& a, int64_t dim) { return at::cumsum(a, dim); });
//
// An optional parameter (c10::optional<T>) reads null or undefined (or a missing argument) as none. A Napi::Env
// parameter takes no argument: it gives the environment, for an entry point that builds JavaScript values itself
// (objects, buffers, promises). A file may add readers of its own (a Reader<T> specialisation before its TL_BINDs);
// one with `static constexpr size_t width = 0` takes no argument either (distributed.h's current process group).
#pragma once
#include "common.h"

#include <array>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

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
template <>
struct Reader<Napi::Env> {  // takes no argument
  static constexpr size_t width = 0;
  static Napi::Env read(const Info& info, size_t) { return info.Env(); }
};
template <>
struct Reader<Napi::Value> {  // the argument as it is (undefined when missing), for a convention no reader has
  static Napi::Value read(const Info& info, size_t i) { return argAt(info, i); }
};
template <>
struct Reader<Napi::Object> {  // an options object (arrays and functions are objects too, as in JavaScript)
  static Napi::Object read(const Info& info, size_t i) {
    if (i >= info.Length() || !info[i].IsObject()) throw ArgError(argName(i) + " must be an object");
    return info[i].As<Napi::Object>();
  }
};
template <>
struct Reader<Napi::Function> {
  static Napi::Function read(const Info& info, size_t i) {
    if (i >= info.Length() || !info[i].IsFunction()) throw ArgError(argName(i) + " must be a function");
    return info[i].As<Napi::Function>();
  }
};
// The bytes of a Buffer, any TypedArray or DataView, or an ArrayBuffer, in place: valid while the call runs.
struct ByteView {
  const uint8_t* data;
  size_t size;
};
template <>
struct Reader<ByteView> {
  static ByteView read(const Info& info, size_t i) {
    Napi::Value v = argAt(info, i);
    if (v.IsTypedArray()) {
      auto ta = v.As<Napi::TypedArray>();
      return {static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
    }
    if (v.IsArrayBuffer()) {
      auto ab = v.As<Napi::ArrayBuffer>();
      return {static_cast<const uint8_t*>(ab.Data()), ab.ByteLength()};
    }
    if (v.IsDataView()) {
      auto dv = v.As<Napi::DataView>();
      return {static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset(), dv.ByteLength()};
    }
    throw ArgError(argName(i) + " must be a Buffer, TypedArray or ArrayBuffer");
  }
};
template <>
struct Reader<std::variant<int64_t, std::vector<int64_t>>> {  // one integer, or an array of them (split's sizes)
  static std::variant<int64_t, std::vector<int64_t>> read(const Info& info, size_t i) {
    if (i < info.Length() && info[i].IsArray()) return intListArg(info, i);
    return intArg(info, i);
  }
};
template <>
struct Reader<c10::List<c10::optional<at::Tensor>>> {  // advanced indexing: [h|-1 ...], -1 keeping that dimension whole
  static c10::List<c10::optional<at::Tensor>> read(const Info& info, size_t i) {
    if (!hasArg(info, i) || !info[i].IsArray()) throw ArgError(argName(i) + " must be an array of index tensors");
    auto arr = info[i].As<Napi::Array>();
    c10::List<c10::optional<at::Tensor>> indices;
    for (uint32_t k = 0; k < arr.Length(); ++k) {
      Napi::Value e = arr[k];
      if (e.IsNumber() && e.As<Napi::Number>().Int64Value() < 0) indices.push_back(c10::nullopt);
      else {
        if (!e.IsNumber()) throw ArgError("index list must hold Tensors");
        indices.push_back(table().get(e.As<Napi::Number>().Int64Value()));
      }
    }
    return indices;
  }
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

// How many arguments a reader takes: its `width` where it has one (0 for Napi::Env), else 1.
template <typename R, typename = void>
struct Width : std::integral_constant<size_t, 1> {};
template <typename R>
struct Width<R, std::void_t<decltype(R::width)>> : std::integral_constant<size_t, R::width> {};

// The argument index each parameter reads: the widths of the parameters before it, added up.
template <typename... A>
constexpr std::array<size_t, sizeof...(A) + 1> argumentIndices() {
  constexpr size_t widths[] = {Width<ReaderOf<A>>::value..., 0};
  std::array<size_t, sizeof...(A) + 1> index{};
  for (size_t k = 0; k < sizeof...(A); ++k) index[k + 1] = index[k] + widths[k];
  return index;
}

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
inline Napi::Value write(Napi::Env, Napi::Value v) { return v; }  // built by the entry point (objects, buffers, promises)
// A tensor's element (item()): a boolean, an integer or a floating-point number.
inline Napi::Value write(Napi::Env env, const at::Scalar& s) {
  if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
  return Napi::Number::New(env, s.toDouble());
}
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
template <typename R, typename... A>
struct Signature<R(A...)> : Signature<R (*)(A...)> {};  // a function passed by name

template <typename F, typename... A, size_t... I>
Napi::Value call(const Info& info, const F& fn, std::tuple<A...>*, std::index_sequence<I...>) {
  // Braced initialisation evaluates left to right: the first bad argument is the one reported, as before.
  [[maybe_unused]] constexpr auto argIndex = argumentIndices<A...>();  // unused for an entry point without parameters
  std::tuple<decltype(ReaderOf<A>::read(info, 0))...> args{ReaderOf<A>::read(info, argIndex[I])...};
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
