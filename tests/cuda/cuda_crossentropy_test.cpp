// CUDA fused softmax cross-entropy at fp32, bf16 and f16 logits against the fp32 reference
// (kernels/ref), on a non-default stream: a ragged vocabulary (V = 1001, scalar path), GPT-2's
// padded one unpadded (V = Vp = 50304, 128-bit path), the real one padded (V = 50257 in rows of
// Vp = 50304) and the padded one at an odd element offset (scalar path). Padded columns hold a
// large logit, so one that leaked into the softmax would move the loss by ~30; backward must
// write them 0. Backward runs in place, and with dloss from device memory (bit for bit the same
// as by value).
#define BOOST_TEST_MODULE cuda_crossentropy
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <numeric>

#include "cuda/cuda_dtype_util.h"
#include "ref/kernels_ref.h"

namespace ref = llmrt::kernels::ref;
using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::random_floats;
using llmrt::kernels::test::random_tokens;

namespace {
constexpr float kDloss = 1.7f;
constexpr float kPadLogit = 30.0f;

struct Case {
  int N, V, Vp;
  std::size_t offset;
  const char* name;
};
const Case kCases[] = {
    {21, 1001, 1001, 0, "N21 V1001"},
    {64, 50304, 50304, 0, "N64 V50304"},
    {32, 50257, 50304, 0, "N32 V50257 Vp50304"},
    {16, 50257, 50304, 1, "N16 V50257 Vp50304 offset 1"},
};

struct Reference {
  std::vector<float> losses, lse, dlogits;  // dlogits: (N, V), unpadded
  float mean;
};

// logits: (N, V) unpadded.
Reference run_reference(const Case& c, const std::vector<float>& logits, const std::vector<std::int32_t>& targets) {
  Reference r{std::vector<float>(c.N), std::vector<float>(c.N), std::vector<float>(logits.size()), 0.0f};
  r.mean = ref::crossentropy_forward(r.losses.data(), r.lse.data(), logits.data(), targets.data(), c.N, c.V);
  ref::crossentropy_backward(r.dlogits.data(), logits.data(), r.lse.data(), targets.data(), kDloss, c.N, c.V);
  return r;
}

// (N, V) -> (N, Vp) with kPadLogit in the padding.
std::vector<float> pad(const Case& c, const std::vector<float>& rows) {
  std::vector<float> out(std::size_t(c.N) * c.Vp, kPadLogit);
  for (int i = 0; i < c.N; i++) {
    std::copy_n(rows.begin() + std::size_t(i) * c.V, c.V, out.begin() + std::size_t(i) * c.Vp);
  }
  return out;
}

// The first V columns of each (N, Vp) row; the padded ones must be exactly 0.
std::vector<float> unpad_checking_zeros(const Case& c, const std::vector<float>& rows, const std::string& what) {
  std::vector<float> out(std::size_t(c.N) * c.V);
  int bad = 0;
  for (int i = 0; i < c.N; i++) {
    const auto row = rows.begin() + std::size_t(i) * c.Vp;
    std::copy_n(row, c.V, out.begin() + std::size_t(i) * c.V);
    for (int j = c.V; j < c.Vp; j++) {
      if (row[j] != 0.0f && bad++ < 5) {
        BOOST_ERROR(what << ": padded column " << j << " of row " << i << " = " << row[j]);
      }
    }
  }
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(crossentropy_matches_reference, T, StorageTypes) {
  cu::CudaStream stream;
  for (const Case& c : kCases) {
    const std::string at = std::string(" [") + c.name + "]";
    std::mt19937 rng(30);
    // Spread wider than [-1, 1] so the softmax is far from uniform.
    const auto logits = round_to<T>(random_floats(std::size_t(c.N) * c.V, rng, -6.0f, 6.0f));
    const auto targets = random_tokens(c.N, c.V, rng);
    const Reference want = run_reference(c, logits, targets);
    auto logits_d = device_copy<T>(pad(c, logits), c.offset);
    auto targets_d = device_vector(targets);
    DeviceBuffer<float> losses_d(c.N), lse_d(c.N);
    cu::crossentropy_forward<T>(losses_d.get(), lse_d.get(), logits_d.get(), targets_d.get(), c.N, c.V, c.Vp,
                                stream.get());
    // fp32 math on identical inputs: no storage rounding, the sum's order only.
    const auto losses = to_host(losses_d);
    check_close_t<T>(losses, want.losses, 64, "ce losses" + at, 0.0);
    check_close_t<T>(to_host(lse_d), want.lse, 64, "ce lse" + at, 0.0);
    const float mean = std::accumulate(losses.begin(), losses.end(), 0.0f) / c.N;
    BOOST_TEST(mean == want.mean, boost::test_tools::tolerance(1e-4f));

    // dloss from the device: dloss_scale * *dloss_device = 0.5 * 3.4 = 1.7 exactly (a power of 2).
    DeviceBuffer<float> dloss_d = device_vector(std::vector<float>{2.0f * kDloss});
    OffsetBuffer<T> dlogits_d(std::size_t(c.N) * c.Vp, c.offset);
    cu::crossentropy_backward<T>(dlogits_d.get(), logits_d.get(), lse_d.get(), targets_d.get(), 0.5f, dloss_d.get(),
                                 c.N, c.V, c.Vp, stream.get());
    // In place, as the trainer runs it, dloss by value: dlogits overwrite the logits.
    cu::crossentropy_backward<T>(logits_d.get(), logits_d.get(), lse_d.get(), targets_d.get(), kDloss, nullptr, c.N,
                                 c.V, c.Vp, stream.get());
    const auto in_place = logits_d.download();
    check_close_t<T>(unpad_checking_zeros(c, in_place, "ce dlogits" + at), want.dlogits, 1, "ce dlogits" + at);
    check_equal(dlogits_d.download(), in_place, "ce dlogits, dloss on the device vs by value" + at);
  }
}

// The header's unpadded forms (Vp = V, dloss by value) are the padded ones at Vp = V.
BOOST_AUTO_TEST_CASE(unpadded_forms_match_padded) {
  cu::CudaStream stream;
  const int N = 7, V = 333;
  std::mt19937 rng(31);
  const auto logits = round_to<bf16>(random_floats(std::size_t(N) * V, rng, -6.0f, 6.0f));
  const auto targets = random_tokens(N, V, rng);
  auto a_d = device_copy<bf16>(logits), b_d = device_copy<bf16>(logits);
  auto targets_d = device_vector(targets);
  DeviceBuffer<float> losses_a(N), lse_a(N), losses_b(N), lse_b(N);
  cu::crossentropy_forward(losses_a.get(), lse_a.get(), a_d.get(), targets_d.get(), N, V, stream.get());
  cu::crossentropy_forward(losses_b.get(), lse_b.get(), b_d.get(), targets_d.get(), N, V, V, stream.get());
  check_equal(to_host(losses_a), to_host(losses_b), "unpadded forward");
  cu::crossentropy_backward(a_d.get(), a_d.get(), lse_a.get(), targets_d.get(), kDloss, N, V, stream.get());
  cu::crossentropy_backward(b_d.get(), b_d.get(), lse_b.get(), targets_d.get(), kDloss, nullptr, N, V, V,
                            stream.get());
  check_equal(a_d.download(), b_d.download(), "unpadded backward");
}

LLMRT_CUDA_TEST_MAIN()
