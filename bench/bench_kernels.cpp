// Micro-benchmark of the fp32 kernels: ref:: vs cpu:: on one GPT-2-small-like layer shape,
// milliseconds per call (best of a few) and the speed-up. Usage: bench_kernels [threads].
#include "cpu/kernels_cpu.h"
#include "ref/kernels_ref.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

namespace ref = llmrt::kernels::ref;
namespace cpu = llmrt::kernels::cpu;

namespace {
constexpr int B = 2, T = 256, C = 768, NH = 12, V = 8192, N = B * T;

std::vector<float> random_floats(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Best wall time of `reps` calls after one warm-up, in milliseconds.
double time_ms(const std::function<void()>& fn, int reps) {
  fn();
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return best;
}

struct Case {
  const char* name;
  std::function<void()> ref_fn, cpu_fn;
};

void report(const Case& c) {
  const double r = time_ms(c.ref_fn, 2), f = time_ms(c.cpu_fn, 5);
  fmt::print("{:<26} {:>10.2f} {:>10.3f} {:>8.1f}x\n", c.name, r, f, r / f);
}
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  cpu::set_cpu_threads(threads);
  std::mt19937 rng(1);
  auto x = random_floats(std::size_t(N) * C, rng), dx = random_floats(x.size(), rng);
  auto y = random_floats(x.size(), rng), w = random_floats(C, rng), bias = random_floats(C, rng);
  auto mean = random_floats(N, rng), rstd = random_floats(N, rng);
  auto wqkv = random_floats(std::size_t(3) * C * C, rng), dwqkv = random_floats(wqkv.size(), rng);
  auto qkv = random_floats(std::size_t(N) * 3 * C, rng), dqkv = random_floats(qkv.size(), rng);
  auto h = random_floats(std::size_t(N) * 4 * C, rng), dh = random_floats(h.size(), rng);
  auto hout = random_floats(h.size(), rng);
  auto lse = random_floats(std::size_t(B) * NH * T, rng);
  auto logits = random_floats(std::size_t(N) * V, rng), dlogits = random_floats(logits.size(), rng);
  std::vector<std::int32_t> targets(N);
  for (int i = 0; i < N; i++) targets[i] = (i * 7919) % V;
  std::vector<float> losses(N), ce_lse(N);
  const std::size_t np = wqkv.size();
  auto m = random_floats(np, rng), v = random_floats(np, rng);
  for (float& e : v) e = std::abs(e);

  fmt::print("B={} T={} C={} NH={} V={} threads={}\n", B, T, C, NH, V, threads);
  fmt::print("{:<26} {:>10} {:>10} {:>9}\n", "kernel", "ref ms", "cpu ms", "speed-up");
  const std::vector<Case> cases = {
      {"matmul_forward qkv",
       [&] { ref::matmul_forward(qkv.data(), x.data(), wqkv.data(), nullptr, N, C, 3 * C); },
       [&] { cpu::matmul_forward(qkv.data(), x.data(), wqkv.data(), nullptr, N, C, 3 * C); }},
      {"matmul_backward qkv",
       [&] { ref::matmul_backward(dx.data(), dwqkv.data(), nullptr, dqkv.data(), x.data(), wqkv.data(), N, C, 3 * C); },
       [&] { cpu::matmul_backward(dx.data(), dwqkv.data(), nullptr, dqkv.data(), x.data(), wqkv.data(), N, C, 3 * C); }},
      {"layernorm_forward",
       [&] { ref::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), bias.data(), N, C); },
       [&] { cpu::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), bias.data(), N, C); }},
      {"layernorm_backward",
       [&] { ref::layernorm_backward(dx.data(), w.data(), bias.data(), y.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C); },
       [&] { cpu::layernorm_backward(dx.data(), w.data(), bias.data(), y.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C); }},
      {"gelu_forward", [&] { ref::gelu_forward(hout.data(), h.data(), h.size()); },
       [&] { cpu::gelu_forward(hout.data(), h.data(), h.size()); }},
      {"gelu_backward", [&] { ref::gelu_backward(dh.data(), h.data(), hout.data(), h.size()); },
       [&] { cpu::gelu_backward(dh.data(), h.data(), hout.data(), h.size()); }},
      {"attention_forward",
       [&] { ref::attention_forward(y.data(), lse.data(), qkv.data(), B, T, C, NH); },
       [&] { cpu::attention_forward(y.data(), lse.data(), qkv.data(), B, T, C, NH); }},
      {"attention_backward",
       [&] { ref::attention_backward(dqkv.data(), x.data(), qkv.data(), y.data(), lse.data(), B, T, C, NH); },
       [&] { cpu::attention_backward(dqkv.data(), x.data(), qkv.data(), y.data(), lse.data(), B, T, C, NH); }},
      {"crossentropy fwd+bwd",
       [&] {
         ref::crossentropy_forward(losses.data(), ce_lse.data(), logits.data(), targets.data(), N, V);
         ref::crossentropy_backward(dlogits.data(), logits.data(), ce_lse.data(), targets.data(), 1.0f, N, V);
       },
       [&] {
         cpu::crossentropy_forward(losses.data(), ce_lse.data(), logits.data(), targets.data(), N, V);
         cpu::crossentropy_backward(dlogits.data(), logits.data(), ce_lse.data(), targets.data(), 1.0f, N, V);
       }},
      {"adamw_update 1.8M",
       [&] { ref::adamw_update(wqkv.data(), dwqkv.data(), m.data(), v.data(), np, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 3); },
       [&] { cpu::adamw_update(wqkv.data(), dwqkv.data(), m.data(), v.data(), np, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 3); }},
  };
  for (const Case& c : cases) report(c);
  return 0;
}
