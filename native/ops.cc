// Element-wise math, comparisons, reductions, shape and indexing ops, and their in-place variants.
#include "common.h"
#include "direct_cpu.h"

namespace tl {
namespace {

using Info = Napi::CallbackInfo;
#define A0 tensorArg(info, 0)
#define A1 tensorArg(info, 1)
#define S1 scalarArg(info, 1)

// ---- unary: (h) -> h
#define UNARY_OPS(X)                                 \
  X(neg, at::neg(a))                                 \
  X(abs, at::abs(a))                                 \
  X(exp, at::exp(a))                                 \
  X(log, at::log(a))                                 \
  X(log1p, at::log1p(a))                             \
  X(expm1, at::expm1(a))                             \
  X(sqrt, at::sqrt(a))                               \
  X(rsqrt, at::rsqrt(a))                             \
  X(square, at::square(a))                           \
  X(reciprocal, at::reciprocal(a))                   \
  X(sin, at::sin(a))                                 \
  X(cos, at::cos(a))                                 \
  X(tanh, at::tanh(a))                               \
  X(sigmoid, at::sigmoid(a))                         \
  X(relu, at::relu(a))                               \
  X(silu, at::silu(a))                               \
  X(erf, at::erf(a))                                 \
  X(floor, at::floor(a))                             \
  X(ceil, at::ceil(a))                               \
  X(round, at::round(a))                             \
  X(sign, at::sign(a))                               \
  X(logicalNot, at::logical_not(a))                  \
  X(isnan, at::isnan(a))                             \
  X(isinf, at::isinf(a))                             \
  X(clone, a.clone())                                \
  X(detach, a.detach())                              \
  X(contiguous, a.contiguous())                      \
  X(alias, a)                                        \
  X(t, a.t())                                        \
  X(zerosLike, at::zeros_like(a))                    \
  X(onesLike, at::ones_like(a))                      \
  X(randLike, at::rand_like(a))                      \
  X(randnLike, at::randn_like(a))                    \
  X(emptyLike, at::empty_like(a))                    \
  X(nonzero, at::nonzero(a))

// ---- binary with a tensor: (h, h) -> h
#define BINARY_OPS(X)                                \
  X(add, direct::add(a, b))                          \
  X(sub, direct::sub(a, b))                          \
  X(mul, direct::mul(a, b))                          \
  X(div, direct::div(a, b))                          \
  X(pow, at::pow(a, b))                              \
  X(remainder, at::remainder(a, b))                  \
  X(maximum, at::maximum(a, b))                      \
  X(minimum, at::minimum(a, b))                      \
  X(eq, at::eq(a, b))                                \
  X(ne, at::ne(a, b))                                \
  X(lt, at::lt(a, b))                                \
  X(le, at::le(a, b))                                \
  X(gt, at::gt(a, b))                                \
  X(ge, at::ge(a, b))                                \
  X(logicalAnd, at::logical_and(a, b))               \
  X(logicalOr, at::logical_or(a, b))                 \
  X(matmul, direct::matmul(a, b))                    \
  X(mm, direct::mm(a, b))                            \
  X(bmm, at::bmm(a, b))                              \
  X(outer, at::outer(a, b))                          \
  X(dot, at::dot(a, b))                              \
  X(equal, at::scalar_tensor(a.equal(b), at::kBool)) \
  X(expandAs, a.expand_as(b))                        \
  X(viewAs, a.view_as(b))                            \
  X(typeAs, a.type_as(b))

// ---- binary with a scalar: (h, number) -> h
#define SCALAR_OPS(X)                                \
  X(addScalar, direct::add(a, s))                    \
  X(subScalar, direct::sub(a, s))                    \
  X(rsubScalar, at::rsub(a, s))                      \
  X(mulScalar, direct::mul(a, s))                    \
  X(divScalar, direct::div(a, s))                    \
  X(rdivScalar, at::mul(at::reciprocal(a), s))       \
  X(powScalar, at::pow(a, s))                        \
  X(rpowScalar, at::pow(s, a))                       \
  X(remainderScalar, at::remainder(a, s))            \
  X(eqScalar, at::eq(a, s))                          \
  X(neScalar, at::ne(a, s))                          \
  X(ltScalar, at::lt(a, s))                          \
  X(leScalar, at::le(a, s))                          \
  X(gtScalar, at::gt(a, s))                          \
  X(geScalar, at::ge(a, s))                          \
  X(fullLike, at::full_like(a, s))

// ---- in-place: return the same handle's tensor; JavaScript keeps its own handle
#define INPLACE_TENSOR_OPS(X)                        \
  X(add_, a.add_(b))                                 \
  X(sub_, a.sub_(b))                                 \
  X(mul_, a.mul_(b))                                 \
  X(div_, a.div_(b))                                 \
  X(copy_, a.copy_(b))

#define INPLACE_SCALAR_OPS(X)                        \
  X(addScalar_, a.add_(s))                           \
  X(subScalar_, a.sub_(s))                           \
  X(mulScalar_, a.mul_(s))                           \
  X(divScalar_, a.div_(s))                           \
  X(powScalar_, a.pow_(s))                           \
  X(fill_, a.fill_(s))

#define INPLACE_UNARY_OPS(X)                         \
  X(zero_, a.zero_())                                \
  X(relu_, a.relu_())                                \
  X(neg_, a.neg_())                                  \
  X(exp_, a.exp_())                                  \
  X(sqrt_, a.sqrt_())                                \
  X(detach_, a.detach_())

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

// ---- ops with extra arguments
// (a, b, alpha)
Napi::Value addScaled(const Info& info) { return wrap(info.Env(), at::add(A0, A1, scalarArg(info, 2))); }
Napi::Value addScaled_(const Info& info) { A0.add_(A1, scalarArg(info, 2)); return info.Env().Undefined(); }
// (a, t1, t2, value)
Napi::Value addcmul_(const Info& info) { A0.addcmul_(A1, tensorArg(info, 2), scalarArg(info, 3)); return info.Env().Undefined(); }
Napi::Value addcdiv_(const Info& info) { A0.addcdiv_(A1, tensorArg(info, 2), scalarArg(info, 3)); return info.Env().Undefined(); }
Napi::Value lerp_(const Info& info) { A0.lerp_(A1, scalarArg(info, 2)); return info.Env().Undefined(); }
// (a, mean, std)
Napi::Value normal_(const Info& info) { A0.normal_(numberArg(info, 1), numberArg(info, 2)); return info.Env().Undefined(); }
// (a, from, to)
Napi::Value uniform_(const Info& info) { A0.uniform_(numberArg(info, 1), numberArg(info, 2)); return info.Env().Undefined(); }
// (a, min|null, max|null)
c10::optional<at::Scalar> optScalar(const Info& info, size_t i) {
  if (!hasArg(info, i)) return c10::nullopt;
  return scalarArg(info, i);
}
Napi::Value clamp(const Info& info) { return wrap(info.Env(), at::clamp(A0, optScalar(info, 1), optScalar(info, 2))); }
Napi::Value clamp_(const Info& info) { A0.clamp_(optScalar(info, 1), optScalar(info, 2)); return info.Env().Undefined(); }
// (cond, a, b)
Napi::Value where(const Info& info) { return wrap(info.Env(), at::where(A0, A1, tensorArg(info, 2))); }
// (a, mask, value)
Napi::Value maskedFill(const Info& info) { return wrap(info.Env(), at::masked_fill(A0, A1, scalarArg(info, 2))); }
Napi::Value maskedFill_(const Info& info) { A0.masked_fill_(A1, scalarArg(info, 2)); return info.Env().Undefined(); }
// (bias, m1, m2, beta, alpha)
Napi::Value addmm(const Info& info) {
  return wrap(info.Env(), at::addmm(A0, A1, tensorArg(info, 2), scalarArg(info, 3), scalarArg(info, 4)));
}

// ---- reductions: (a, dims|null, keepdim, dtype?)
Napi::Value sum(const Info& info) {
  auto& a = A0;
  auto dtype = optDtypeArg(info, 3);
  if (!hasArg(info, 1)) return wrap(info.Env(), at::sum(a, dtype));
  return wrap(info.Env(), at::sum(a, intListArg(info, 1), boolArg(info, 2), dtype));
}
Napi::Value mean(const Info& info) {
  auto& a = A0;
  auto dtype = optDtypeArg(info, 3);
  if (!hasArg(info, 1)) return wrap(info.Env(), at::mean(a, dtype));
  return wrap(info.Env(), at::mean(a, intListArg(info, 1), boolArg(info, 2), dtype));
}
Napi::Value amax(const Info& info) {
  if (!hasArg(info, 1)) return wrap(info.Env(), at::max(A0));
  return wrap(info.Env(), at::amax(A0, intListArg(info, 1), boolArg(info, 2)));
}
Napi::Value amin(const Info& info) {
  if (!hasArg(info, 1)) return wrap(info.Env(), at::min(A0));
  return wrap(info.Env(), at::amin(A0, intListArg(info, 1), boolArg(info, 2)));
}
Napi::Value prod(const Info& info) {
  if (!hasArg(info, 1)) return wrap(info.Env(), at::prod(A0));
  return wrap(info.Env(), at::prod(A0, intArg(info, 1), boolArg(info, 2)));
}
Napi::Value logsumexp(const Info& info) { return wrap(info.Env(), at::logsumexp(A0, intListArg(info, 1), boolArg(info, 2))); }
Napi::Value all(const Info& info) { return wrap(info.Env(), hasArg(info, 1) ? at::all(A0, intArg(info, 1), boolArg(info, 2)) : at::all(A0)); }
Napi::Value any(const Info& info) { return wrap(info.Env(), hasArg(info, 1) ? at::any(A0, intArg(info, 1), boolArg(info, 2)) : at::any(A0)); }
// (a, dim, keepdim) -> [values, indices]
Napi::Value maxDim(const Info& info) {
  auto r = at::max(A0, intArg(info, 1), boolArg(info, 2));
  return wrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
}
Napi::Value minDim(const Info& info) {
  auto r = at::min(A0, intArg(info, 1), boolArg(info, 2));
  return wrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
}
// (a, dim|null, keepdim)
Napi::Value argmax(const Info& info) {
  c10::optional<int64_t> dim = hasArg(info, 1) ? c10::optional<int64_t>(intArg(info, 1)) : c10::nullopt;
  return wrap(info.Env(), at::argmax(A0, dim, boolArg(info, 2)));
}
Napi::Value argmin(const Info& info) {
  c10::optional<int64_t> dim = hasArg(info, 1) ? c10::optional<int64_t>(intArg(info, 1)) : c10::nullopt;
  return wrap(info.Env(), at::argmin(A0, dim, boolArg(info, 2)));
}
// (a, dims|null, unbiased, keepdim)
Napi::Value var(const Info& info) {
  if (!hasArg(info, 1)) return wrap(info.Env(), at::var(A0, boolArg(info, 2)));
  return wrap(info.Env(), at::var(A0, at::IntArrayRef(intListArg(info, 1)), boolArg(info, 2), boolArg(info, 3)));
}
Napi::Value std_(const Info& info) {
  if (!hasArg(info, 1)) return wrap(info.Env(), at::std(A0, boolArg(info, 2)));
  return wrap(info.Env(), at::std(A0, at::IntArrayRef(intListArg(info, 1)), boolArg(info, 2), boolArg(info, 3)));
}
// (a, p, dims|null, keepdim)
Napi::Value norm(const Info& info) {
  auto p = scalarArg(info, 1);
  if (!hasArg(info, 2)) return wrap(info.Env(), at::norm(A0, p));
  return wrap(info.Env(), at::norm(A0, c10::optional<at::Scalar>(p), intListArg(info, 2), boolArg(info, 3)));
}
// (a, dim)
Napi::Value cumsum(const Info& info) { return wrap(info.Env(), at::cumsum(A0, intArg(info, 1))); }
// (a, k, dim, largest) -> [values, indices]
Napi::Value topk(const Info& info) {
  auto r = at::topk(A0, intArg(info, 1), intArg(info, 2), boolArg(info, 3), true);
  return wrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
}
// (a, dim, descending) -> [values, indices]
Napi::Value sort(const Info& info) {
  auto r = at::sort(A0, intArg(info, 1), boolArg(info, 2));
  return wrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
}

// ---- shape
Napi::Value view(const Info& info) { return wrap(info.Env(), A0.view(intListArg(info, 1))); }
Napi::Value reshape(const Info& info) { return wrap(info.Env(), A0.reshape(intListArg(info, 1))); }
Napi::Value transpose(const Info& info) { return wrap(info.Env(), A0.transpose(intArg(info, 1), intArg(info, 2))); }
Napi::Value permute(const Info& info) { return wrap(info.Env(), A0.permute(intListArg(info, 1))); }
Napi::Value squeeze(const Info& info) { return wrap(info.Env(), hasArg(info, 1) ? A0.squeeze(intArg(info, 1)) : A0.squeeze()); }
Napi::Value unsqueeze(const Info& info) { return wrap(info.Env(), A0.unsqueeze(intArg(info, 1))); }
Napi::Value expand(const Info& info) { return wrap(info.Env(), A0.expand(intListArg(info, 1))); }
Napi::Value repeat(const Info& info) { return wrap(info.Env(), A0.repeat(intListArg(info, 1))); }
Napi::Value flatten(const Info& info) { return wrap(info.Env(), A0.flatten(intArg(info, 1), intArg(info, 2))); }
Napi::Value flip(const Info& info) { return wrap(info.Env(), A0.flip(intListArg(info, 1))); }
Napi::Value narrow(const Info& info) { return wrap(info.Env(), A0.narrow(intArg(info, 1), intArg(info, 2), intArg(info, 3))); }
Napi::Value select(const Info& info) { return wrap(info.Env(), A0.select(intArg(info, 1), intArg(info, 2))); }
// (a, dim, start|null, end|null, step)
Napi::Value slice(const Info& info) {
  c10::optional<int64_t> start = hasArg(info, 2) ? c10::optional<int64_t>(intArg(info, 2)) : c10::nullopt;
  c10::optional<int64_t> end = hasArg(info, 3) ? c10::optional<int64_t>(intArg(info, 3)) : c10::nullopt;
  return wrap(info.Env(), A0.slice(intArg(info, 1), start, end, hasArg(info, 4) ? intArg(info, 4) : 1));
}
Napi::Value tril(const Info& info) { return wrap(info.Env(), at::tril(A0, hasArg(info, 1) ? intArg(info, 1) : 0)); }
Napi::Value triu(const Info& info) { return wrap(info.Env(), at::triu(A0, hasArg(info, 1) ? intArg(info, 1) : 0)); }

// ---- indexing
// (a, dim, index)
Napi::Value indexSelect(const Info& info) { return wrap(info.Env(), at::index_select(A0, intArg(info, 1), tensorArg(info, 2))); }
Napi::Value gather(const Info& info) { return wrap(info.Env(), at::gather(A0, intArg(info, 1), tensorArg(info, 2))); }
// (a, dim, index, src)
Napi::Value scatter(const Info& info) { return wrap(info.Env(), at::scatter(A0, intArg(info, 1), tensorArg(info, 2), tensorArg(info, 3))); }
Napi::Value scatterAdd(const Info& info) { return wrap(info.Env(), at::scatter_add(A0, intArg(info, 1), tensorArg(info, 2), tensorArg(info, 3))); }
// (a, [h|-1 ...]): advanced indexing with tensors; -1 keeps that dimension whole
Napi::Value index(const Info& info) {
  if (!hasArg(info, 1) || !info[1].IsArray()) throw ArgError("argument 2 must be an array of index tensors");
  auto arr = info[1].As<Napi::Array>();
  c10::List<c10::optional<at::Tensor>> indices;
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value e = arr[k];
    if (e.IsNumber() && e.As<Napi::Number>().Int64Value() < 0) indices.push_back(c10::nullopt);
    else {
      if (!e.IsNumber()) throw ArgError("index list must hold Tensors");
      indices.push_back(table().get(e.As<Napi::Number>().Int64Value()));
    }
  }
  return wrap(info.Env(), at::index(A0, indices));
}
Napi::Value maskedSelect(const Info& info) { return wrap(info.Env(), at::masked_select(A0, A1)); }
// (a, numClasses)
Napi::Value oneHot(const Info& info) { return wrap(info.Env(), at::one_hot(A0, hasArg(info, 1) ? intArg(info, 1) : -1)); }

// ---- joining and splitting
Napi::Value cat(const Info& info) { return wrap(info.Env(), at::cat(tensorListArg(info, 0), intArg(info, 1))); }
Napi::Value stack(const Info& info) { return wrap(info.Env(), at::stack(tensorListArg(info, 0), intArg(info, 1))); }
// (a, sizeOrSizes, dim)
Napi::Value split(const Info& info) {
  if (info.Length() > 1 && info[1].IsArray()) return wrapList(info.Env(), at::split_with_sizes(A0, intListArg(info, 1), intArg(info, 2)));
  return wrapList(info.Env(), at::split(A0, intArg(info, 1), intArg(info, 2)));
}
Napi::Value chunk(const Info& info) { return wrapList(info.Env(), at::chunk(A0, intArg(info, 1), intArg(info, 2))); }
Napi::Value unbind(const Info& info) { return wrapList(info.Env(), at::unbind(A0, intArg(info, 1))); }

}  // namespace

#define REG(name, expr) TL_EXPORT(exports, #name, name);

void registerOps(Napi::Env env, Napi::Object exports) {
  UNARY_OPS(REG)
  BINARY_OPS(REG)
  SCALAR_OPS(REG)
  INPLACE_TENSOR_OPS(REG)
  INPLACE_SCALAR_OPS(REG)
  INPLACE_UNARY_OPS(REG)
  TL_EXPORT(exports, "addScaled", addScaled);
  TL_EXPORT(exports, "addScaled_", addScaled_);
  TL_EXPORT(exports, "addcmul_", addcmul_);
  TL_EXPORT(exports, "addcdiv_", addcdiv_);
  TL_EXPORT(exports, "lerp_", lerp_);
  TL_EXPORT(exports, "normal_", normal_);
  TL_EXPORT(exports, "uniform_", uniform_);
  TL_EXPORT(exports, "clamp", clamp);
  TL_EXPORT(exports, "clamp_", clamp_);
  TL_EXPORT(exports, "where", where);
  TL_EXPORT(exports, "maskedFill", maskedFill);
  TL_EXPORT(exports, "maskedFill_", maskedFill_);
  TL_EXPORT(exports, "addmm", addmm);
  TL_EXPORT(exports, "sum", sum);
  TL_EXPORT(exports, "mean", mean);
  TL_EXPORT(exports, "amax", amax);
  TL_EXPORT(exports, "amin", amin);
  TL_EXPORT(exports, "prod", prod);
  TL_EXPORT(exports, "logsumexp", logsumexp);
  TL_EXPORT(exports, "all", all);
  TL_EXPORT(exports, "any", any);
  TL_EXPORT(exports, "maxDim", maxDim);
  TL_EXPORT(exports, "minDim", minDim);
  TL_EXPORT(exports, "argmax", argmax);
  TL_EXPORT(exports, "argmin", argmin);
  TL_EXPORT(exports, "var", var);
  TL_EXPORT(exports, "std", std_);
  TL_EXPORT(exports, "norm", norm);
  TL_EXPORT(exports, "cumsum", cumsum);
  TL_EXPORT(exports, "topk", topk);
  TL_EXPORT(exports, "sort", sort);
  TL_EXPORT(exports, "view", view);
  TL_EXPORT(exports, "reshape", reshape);
  TL_EXPORT(exports, "transpose", transpose);
  TL_EXPORT(exports, "permute", permute);
  TL_EXPORT(exports, "squeeze", squeeze);
  TL_EXPORT(exports, "unsqueeze", unsqueeze);
  TL_EXPORT(exports, "expand", expand);
  TL_EXPORT(exports, "repeat", repeat);
  TL_EXPORT(exports, "flatten", flatten);
  TL_EXPORT(exports, "flip", flip);
  TL_EXPORT(exports, "narrow", narrow);
  TL_EXPORT(exports, "select", select);
  TL_EXPORT(exports, "slice", slice);
  TL_EXPORT(exports, "tril", tril);
  TL_EXPORT(exports, "triu", triu);
  TL_EXPORT(exports, "indexSelect", indexSelect);
  TL_EXPORT(exports, "gather", gather);
  TL_EXPORT(exports, "scatter", scatter);
  TL_EXPORT(exports, "scatterAdd", scatterAdd);
  TL_EXPORT(exports, "index", index);
  TL_EXPORT(exports, "maskedSelect", maskedSelect);
  TL_EXPORT(exports, "oneHot", oneHot);
  TL_EXPORT(exports, "cat", cat);
  TL_EXPORT(exports, "stack", stack);
  TL_EXPORT(exports, "split", split);
  TL_EXPORT(exports, "chunk", chunk);
  TL_EXPORT(exports, "unbind", unbind);
}

}  // namespace tl
