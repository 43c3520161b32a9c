// The per-op floor: bench/workloads' op chains (1,000 dependent add / mul / matmul on n x n float32), written
// in C++ against the same libtorch, so no binding at all is in the way. Each intermediate is freed as soon as
// the next exists (RAII), as in Python. "dispatcher" calls at::add etc., the path every binding takes with
// autograd on; "cpu kernel" calls at::cpu::add etc., the path torch-lora takes when no gradient is needed.
// Built and run by bench/aten-floor.ts; prints one JSON object.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ScalarOps.h>
#include <ATen/ops/add_cpu_dispatch.h>
#include <ATen/ops/mm_cpu_dispatch.h>
#include <ATen/ops/mul_cpu_dispatch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

at::Tensor wrappedFloat(double v) {
  auto t = at::detail::scalar_tensor_static(v, at::kFloat, at::kCPU);
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

using Op = std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>;

double microsPerOp(const Op& op, const at::Tensor& a, const at::Tensor& b, int chain, int reps) {
  auto run = [&] {
    at::Tensor x = a;
    for (int i = 0; i < chain; ++i) x = op(x, b);
  };
  for (int i = 0; i < 3; ++i) run();
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    samples.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / chain);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  int reps = argc > 2 ? std::atoi(argv[2]) : 15;
  at::set_num_threads(threads);
  const std::pair<const char*, Op> ops[] = {
      {"add dispatcher", [](auto& x, auto& y) { return at::add(x, y); }},
      {"add cpu kernel", [](auto& x, auto& y) { return at::cpu::add(x, y); }},
      {"mul dispatcher", [](auto& x, auto& y) { return at::mul(x, y); }},
      {"mul cpu kernel", [](auto& x, auto& y) { return at::cpu::mul(x, y); }},
      {"matmul dispatcher", [](auto& x, auto& y) { return at::matmul(x, y); }},
      {"matmul cpu kernel", [](auto& x, auto& y) { return at::cpu::mm(x, y); }},
      // x * 1.0001: ATen wraps the number as a double tensor and casts it to float with an extra op;
      // torch-lora makes the wrapped number in the tensor's dtype (native/direct_cpu.cc).
      {"mul by a number dispatcher", [](auto& x, auto&) { return at::mul(x, 1.0001); }},
      {"mul by a number cpu kernel", [](auto& x, auto&) { return at::cpu::mul(x, wrappedFloat(1.0001)); }},
  };
  std::printf("{\"threads\": %d, \"us_per_op\": {", threads);
  bool first = true;
  for (int n : {8, 64}) {
    at::manual_seed(n);
    auto a = at::randn({n, n});
    auto b = at::randn({n, n}).mul(0.01);
    auto ones = at::rand({n, n}).mul(0.002).add(0.999);
    auto eye = at::eye(n);
    for (const auto& [name, op] : ops) {
      std::string s(name);
      const auto& operand = s.rfind("add", 0) == 0 ? b : s.rfind("mul", 0) == 0 ? ones : eye;
      std::printf("%s\"%s %dx%d\": %.4f", first ? "" : ", ", name, n, n, microsPerOp(op, a, operand, 1000, reps));
      first = false;
    }
  }
  std::printf("}}\n");
}
