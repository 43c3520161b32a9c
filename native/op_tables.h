// The op tables: every native op of one regular shape is one line here, and this file is their single source.
// native/ops.cc expands each table into an entry point (DEF_* there) and registers it; scripts/gen-native-types.js
// reads the same lines and writes their TypeScript declarations (lib/native-ops.generated.ts), and
// test/native-binding.test.ts fails when the two drift. Adding an op: docs/adding-an-op.md.
//
// Each table's argument convention is fixed by its name (the generator keeps one TypeScript signature per table):
// `a` and `b` are tensors read from handles, `s` a number or boolean. Keep one X(name, expr) per line.
#pragma once

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
  X(t, a.t())                                        \
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
  X(viewAs, a.view_as(b))

// ---- binary with a scalar: (h, number) -> h
#define SCALAR_OPS(X)                                \
  X(addScalar, direct::add(a, s))                    \
  X(subScalar, direct::sub(a, s))                    \
  X(rsubScalar, at::rsub(a, s))                      \
  X(mulScalar, direct::mul(a, s))                    \
  X(divScalar, direct::div(a, s))                    \
  X(rdivScalar, at::mul(at::reciprocal(a), s))       \
  X(powScalar, at::pow(a, s))                        \
  X(remainderScalar, at::remainder(a, s))            \
  X(eqScalar, at::eq(a, s))                          \
  X(neScalar, at::ne(a, s))                          \
  X(ltScalar, at::lt(a, s))                          \
  X(leScalar, at::le(a, s))                          \
  X(gtScalar, at::gt(a, s))                          \
  X(geScalar, at::ge(a, s))

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
