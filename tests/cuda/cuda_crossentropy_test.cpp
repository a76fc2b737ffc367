// CUDA fused softmax cross-entropy against the fp32 CPU kernel, for bf16 and fp32 logits, in
// place and out of place, at a ragged vocabulary and at GPT-2's padded one (V = 50304).
#define BOOST_TEST_MODULE cuda_crossentropy
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <numeric>

#include "cpu/kernels_cpu.h"
#include "cuda/cuda_test_util.h"

namespace cpu = llmrt::kernels::cpu;
using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::random_floats;
using llmrt::kernels::test::random_tokens;

namespace {
constexpr int kRows = 21, kVocab = 1001;  // V spans several passes of a 256-thread block, with a ragged end
constexpr float kDloss = 1.7f;
int N = kRows, V = kVocab;  // the shape under test

struct CpuResult {
  std::vector<float> losses, lse, dlogits;
  float mean;
};

CpuResult run_cpu(const std::vector<float>& logits, const std::vector<std::int32_t>& targets) {
  CpuResult r{std::vector<float>(N), std::vector<float>(N), std::vector<float>(logits.size()), 0.0f};
  r.mean = cpu::crossentropy_forward(r.losses.data(), r.lse.data(), logits.data(), targets.data(), N, V);
  cpu::crossentropy_backward(r.dlogits.data(), logits.data(), r.lse.data(), targets.data(), kDloss, N, V);
  return r;
}

// Logits spread wider than [-1, 1] so the softmax is far from uniform.
std::vector<float> make_logits(std::mt19937& rng) { return round_bf16(random_floats(std::size_t(N) * V, rng, -6.0f, 6.0f)); }
}  // namespace

BOOST_AUTO_TEST_CASE(bf16_logits_in_place_match_cpu) {
  std::mt19937 rng(30);
  const auto logits = make_logits(rng);
  const auto targets = random_tokens(N, V, rng);
  const CpuResult want = run_cpu(logits, targets);
  auto logits_d = to_device_bf16(logits);
  auto targets_d = to_device(targets);
  DeviceBuffer<float> losses_d(N), lse_d(N);
  cu::crossentropy_forward(losses_d.get(), lse_d.get(), logits_d.get(), targets_d.get(), N, V, nullptr);
  const auto losses = to_host(losses_d);
  check_close_bf16(losses, want.losses, V, "ce losses", 0.1);  // fp32 math on identical inputs
  check_close_bf16(to_host(lse_d), want.lse, V, "ce lse", 0.1);
  const float mean = std::accumulate(losses.begin(), losses.end(), 0.0f) / N;
  BOOST_TEST(mean == want.mean, boost::test_tools::tolerance(1e-4f));
  // In place, as the trainer runs it: dlogits overwrite the logits.
  cu::crossentropy_backward(logits_d.get(), logits_d.get(), lse_d.get(), targets_d.get(), kDloss, N, V, nullptr);
  check_close_bf16(to_host(logits_d), want.dlogits, 1, "ce dlogits (bf16, in place)");
}

BOOST_AUTO_TEST_CASE(fp32_logits_match_cpu) {
  std::mt19937 rng(31);
  const auto logits = make_logits(rng);
  const auto targets = random_tokens(N, V, rng);
  const CpuResult want = run_cpu(logits, targets);
  auto logits_d = to_device(logits);
  auto targets_d = to_device(targets);
  DeviceBuffer<float> losses_d(N), lse_d(N), dlogits_d(logits.size());
  cu::crossentropy_forward(losses_d.get(), lse_d.get(), logits_d.get(), targets_d.get(), N, V, nullptr);
  check_close_bf16(to_host(losses_d), want.losses, V, "ce losses (fp32)", 0.1);
  cu::crossentropy_backward(dlogits_d.get(), logits_d.get(), lse_d.get(), targets_d.get(), kDloss, N, V, nullptr);
  check_close_bf16(to_host(dlogits_d), want.dlogits, V, "ce dlogits (fp32)", 0.1);
}

// The benchmark's vocabulary (50257 padded to 50304, a multiple of 128), 64 rows, in place.
BOOST_AUTO_TEST_CASE(gpt2_vocabulary_matches_cpu) {
  N = 64;
  V = 50304;
  std::mt19937 rng(32);
  const auto logits = make_logits(rng);
  const auto targets = random_tokens(N, V, rng);
  const CpuResult want = run_cpu(logits, targets);
  auto logits_d = to_device_bf16(logits);
  auto targets_d = to_device(targets);
  DeviceBuffer<float> losses_d(N), lse_d(N);
  cu::crossentropy_forward(losses_d.get(), lse_d.get(), logits_d.get(), targets_d.get(), N, V, nullptr);
  check_close_bf16(to_host(losses_d), want.losses, V, "ce losses (V 50304)", 0.1);
  cu::crossentropy_backward(logits_d.get(), logits_d.get(), lse_d.get(), targets_d.get(), kDloss, N, V, nullptr);
  check_close_bf16(to_host(logits_d), want.dlogits, 1, "ce dlogits (V 50304, in place)");
  N = kRows;
  V = kVocab;
}

LLMRT_CUDA_TEST_MAIN()
