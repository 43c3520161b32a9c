// Small CPU ops without the dispatcher layers that would only pass them through.
// A plain CPU tensor that needs no gradient goes through autograd, ADInplaceOrView and autocast kernels that
// each just forward the call; calling the CPU kernel directly (as PyTorch's static runtime does) gives the same
// result about 0.15 us sooner. Anything else (autograd, autocast on, other devices, conj/neg views) takes the
// ordinary at:: path.
#pragma once
#include <ATen/ATen.h>

namespace tl::direct {

at::Tensor add(const at::Tensor& a, const at::Tensor& b);
at::Tensor sub(const at::Tensor& a, const at::Tensor& b);
at::Tensor mul(const at::Tensor& a, const at::Tensor& b);
at::Tensor div(const at::Tensor& a, const at::Tensor& b);
at::Tensor add(const at::Tensor& a, const at::Scalar& s);
at::Tensor sub(const at::Tensor& a, const at::Scalar& s);
at::Tensor mul(const at::Tensor& a, const at::Scalar& s);
at::Tensor div(const at::Tensor& a, const at::Scalar& s);
at::Tensor mm(const at::Tensor& a, const at::Tensor& b);
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b);

}  // namespace tl::direct
