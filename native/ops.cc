// Element-wise math, comparisons, reductions, shape and indexing ops, and their in-place variants: the table ops
// (native/op_tables.h) expanded by DEF_*, the rest one typed lambda each (TL_BIND, native/bind.h).
#include "bind.h"
#include "common.h"
#include "direct_cpu.h"

namespace tl {
namespace {

using Info = Napi::CallbackInfo;
#define A0 tensorArg(info, 0)
#define A1 tensorArg(info, 1)
#define S1 scalarArg(info, 1)

#include "op_tables.h"

#define DEF_UNARY(name, expr) \
  Napi::Value name(const Info& info) { auto& a = A0; return wrap(info.Env(), expr); }
#define DEF_BINARY(name, expr) \
  Napi::Value name(const Info& info) { auto& a = A0; auto& b = A1; return wrap(info.Env(), expr); }
#define DEF_SCALAR(name, expr) \
  Napi::Value name(const Info& info) { auto& a = A0; auto s = S1; return wrap(info.Env(), expr); }
#define DEF_INPLACE_TENSOR(name, expr) \
  Napi::Value name(const Info& info) { auto& a = A0; auto& b = A1; expr; return info.Env().Undefined(); }
#define DEF_INPLACE_SCALAR(name, expr) \
  Napi::Value name(const Info& info) { auto& a = A0; auto s = S1; expr; return info.Env().Undefined(); }
#define DEF_INPLACE_UNARY(name, expr) \
  Napi::Value name(const Info& info) { auto& a = A0; expr; return info.Env().Undefined(); }

UNARY_OPS(DEF_UNARY)
BINARY_OPS(DEF_BINARY)
SCALAR_OPS(DEF_SCALAR)
INPLACE_TENSOR_OPS(DEF_INPLACE_TENSOR)
INPLACE_SCALAR_OPS(DEF_INPLACE_SCALAR)
INPLACE_UNARY_OPS(DEF_INPLACE_UNARY)

}  // namespace

#define REG(name, expr) TL_EXPORT(exports, #name, name);

void registerOps(Napi::Env env, Napi::Object exports) {
  UNARY_OPS(REG)
  BINARY_OPS(REG)
  SCALAR_OPS(REG)
  INPLACE_TENSOR_OPS(REG)
  INPLACE_SCALAR_OPS(REG)
  INPLACE_UNARY_OPS(REG)
  using T = at::Tensor;
  using Dims = c10::optional<std::vector<int64_t>>;  // null reduces over every dimension
  using OptInt = c10::optional<int64_t>;
  using OptScalar = c10::optional<at::Scalar>;
  using OptDtype = c10::optional<at::ScalarType>;
  using Pair = std::tuple<at::Tensor, at::Tensor>;  // [values, indices]
  using Indices = c10::List<c10::optional<at::Tensor>>;  // [h|-1 ...]: -1 keeps that dimension whole
  using SizeOrSizes = std::variant<int64_t, std::vector<int64_t>>;  // one piece size, or each piece's
  // ---- ops with extra arguments
  TL_BIND(exports, "addScaled", [](T& a, T& b, at::Scalar alpha) { return at::add(a, b, alpha); });
  TL_BIND(exports, "addScaled_", [](T& a, T& b, at::Scalar alpha) { a.add_(b, alpha); });
  TL_BIND(exports, "addcmul_", [](T& a, T& t1, T& t2, at::Scalar value) { a.addcmul_(t1, t2, value); });
  TL_BIND(exports, "addcdiv_", [](T& a, T& t1, T& t2, at::Scalar value) { a.addcdiv_(t1, t2, value); });
  TL_BIND(exports, "lerp_", [](T& a, T& end, at::Scalar weight) { a.lerp_(end, weight); });
  TL_BIND(exports, "normal_", [](T& a, double mean, double std) { a.normal_(mean, std); });
  TL_BIND(exports, "uniform_", [](T& a, double from, double to) { a.uniform_(from, to); });
  TL_BIND(exports, "clamp", [](T& a, OptScalar min, OptScalar max) { return at::clamp(a, min, max); });
  TL_BIND(exports, "clamp_", [](T& a, OptScalar min, OptScalar max) { a.clamp_(min, max); });
  TL_BIND(exports, "where", [](T& cond, T& a, T& b) { return at::where(cond, a, b); });
  TL_BIND(exports, "maskedFill", [](T& a, T& mask, at::Scalar value) { return at::masked_fill(a, mask, value); });
  TL_BIND(exports, "maskedFill_", [](T& a, T& mask, at::Scalar value) { a.masked_fill_(mask, value); });
  TL_BIND(exports, "addmm", [](T& bias, T& m1, T& m2, at::Scalar beta, at::Scalar alpha) { return at::addmm(bias, m1, m2, beta, alpha); });
  // ---- reductions
  TL_BIND(exports, "sum", [](T& a, Dims dims, bool keepdim, OptDtype dtype) { return dims ? at::sum(a, *dims, keepdim, dtype) : at::sum(a, dtype); });
  TL_BIND(exports, "mean", [](T& a, Dims dims, bool keepdim, OptDtype dtype) { return dims ? at::mean(a, *dims, keepdim, dtype) : at::mean(a, dtype); });
  TL_BIND(exports, "amax", [](T& a, Dims dims, bool keepdim) { return dims ? at::amax(a, *dims, keepdim) : at::max(a); });
  TL_BIND(exports, "amin", [](T& a, Dims dims, bool keepdim) { return dims ? at::amin(a, *dims, keepdim) : at::min(a); });
  TL_BIND(exports, "prod", [](T& a, OptInt dim, bool keepdim) { return dim ? at::prod(a, *dim, keepdim) : at::prod(a); });
  TL_BIND(exports, "logsumexp", [](T& a, std::vector<int64_t> dims, bool keepdim) { return at::logsumexp(a, dims, keepdim); });
  TL_BIND(exports, "all", [](T& a, OptInt dim, bool keepdim) { return dim ? at::all(a, *dim, keepdim) : at::all(a); });
  TL_BIND(exports, "any", [](T& a, OptInt dim, bool keepdim) { return dim ? at::any(a, *dim, keepdim) : at::any(a); });
  TL_BIND(exports, "maxDim", [](T& a, int64_t dim, bool keepdim) -> Pair { return at::max(a, dim, keepdim); });
  TL_BIND(exports, "minDim", [](T& a, int64_t dim, bool keepdim) -> Pair { return at::min(a, dim, keepdim); });
  TL_BIND(exports, "argmax", [](T& a, OptInt dim, bool keepdim) { return at::argmax(a, dim, keepdim); });
  TL_BIND(exports, "argmin", [](T& a, OptInt dim, bool keepdim) { return at::argmin(a, dim, keepdim); });
  TL_BIND(exports, "var", [](T& a, Dims dims, bool unbiased, bool keepdim) {
    return dims ? at::var(a, at::IntArrayRef(*dims), unbiased, keepdim) : at::var(a, unbiased);
  });
  TL_BIND(exports, "std", [](T& a, Dims dims, bool unbiased, bool keepdim) {
    return dims ? at::std(a, at::IntArrayRef(*dims), unbiased, keepdim) : at::std(a, unbiased);
  });
  TL_BIND(exports, "norm", [](T& a, at::Scalar p, Dims dims, bool keepdim) {
    return dims ? at::norm(a, c10::optional<at::Scalar>(p), *dims, keepdim) : at::norm(a, p);
  });
  TL_BIND(exports, "cumsum", [](T& a, int64_t dim) { return at::cumsum(a, dim); });
  TL_BIND(exports, "topk", [](T& a, int64_t k, int64_t dim, bool largest) -> Pair { return at::topk(a, k, dim, largest, /*sorted=*/true); });
  TL_BIND(exports, "sort", [](T& a, int64_t dim, bool descending) -> Pair { return at::sort(a, dim, descending); });
  // ---- shape
  TL_BIND(exports, "view", [](T& a, std::vector<int64_t> shape) { return a.view(shape); });
  TL_BIND(exports, "reshape", [](T& a, std::vector<int64_t> shape) { return a.reshape(shape); });
  TL_BIND(exports, "transpose", [](T& a, int64_t dim0, int64_t dim1) { return a.transpose(dim0, dim1); });
  TL_BIND(exports, "permute", [](T& a, std::vector<int64_t> dims) { return a.permute(dims); });
  TL_BIND(exports, "squeeze", [](T& a, OptInt dim) { return dim ? a.squeeze(*dim) : a.squeeze(); });
  TL_BIND(exports, "unsqueeze", [](T& a, int64_t dim) { return a.unsqueeze(dim); });
  TL_BIND(exports, "expand", [](T& a, std::vector<int64_t> shape) { return a.expand(shape); });
  TL_BIND(exports, "repeat", [](T& a, std::vector<int64_t> repeats) { return a.repeat(repeats); });
  TL_BIND(exports, "flatten", [](T& a, int64_t start, int64_t end) { return a.flatten(start, end); });
  TL_BIND(exports, "flip", [](T& a, std::vector<int64_t> dims) { return a.flip(dims); });
  TL_BIND(exports, "narrow", [](T& a, int64_t dim, int64_t start, int64_t length) { return a.narrow(dim, start, length); });
  TL_BIND(exports, "select", [](T& a, int64_t dim, int64_t index) { return a.select(dim, index); });
  TL_BIND(exports, "slice", [](T& a, int64_t dim, OptInt start, OptInt end, OptInt step) { return a.slice(dim, start, end, step.value_or(1)); });
  TL_BIND(exports, "tril", [](T& a, OptInt diagonal) { return at::tril(a, diagonal.value_or(0)); });
  TL_BIND(exports, "triu", [](T& a, OptInt diagonal) { return at::triu(a, diagonal.value_or(0)); });
  // ---- indexing
  TL_BIND(exports, "indexSelect", [](T& a, int64_t dim, T& index) { return at::index_select(a, dim, index); });
  TL_BIND(exports, "gather", [](T& a, int64_t dim, T& index) { return at::gather(a, dim, index); });
  TL_BIND(exports, "scatter", [](T& a, int64_t dim, T& index, T& src) { return at::scatter(a, dim, index, src); });
  TL_BIND(exports, "scatterAdd", [](T& a, int64_t dim, T& index, T& src) { return at::scatter_add(a, dim, index, src); });
  TL_BIND(exports, "index", [](T& a, const Indices& indices) { return at::index(a, indices); });
  TL_BIND(exports, "maskedSelect", [](T& a, T& mask) { return at::masked_select(a, mask); });
  TL_BIND(exports, "oneHot", [](T& a, OptInt numClasses) { return at::one_hot(a, numClasses.value_or(-1)); });
  // ---- joining and splitting
  TL_BIND(exports, "cat", [](std::vector<T> ts, int64_t dim) { return at::cat(ts, dim); });
  TL_BIND(exports, "stack", [](std::vector<T> ts, int64_t dim) { return at::stack(ts, dim); });
  TL_BIND(exports, "split", [](T& a, const SizeOrSizes& sizes, int64_t dim) {
    if (auto* each = std::get_if<std::vector<int64_t>>(&sizes)) return at::split_with_sizes(a, *each, dim);
    return at::split(a, std::get<int64_t>(sizes), dim);
  });
  TL_BIND(exports, "chunk", [](T& a, int64_t chunks, int64_t dim) { return at::chunk(a, chunks, dim); });
  TL_BIND(exports, "unbind", [](T& a, int64_t dim) { return at::unbind(a, dim); });
}

}  // namespace tl
