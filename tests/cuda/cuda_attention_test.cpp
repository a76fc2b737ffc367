// CUDA fused attention against the fp32 CPU kernel: an odd head size (7, the generic path), the
// GPT head sizes 48, 64, 80, 96 and 128 with T spanning several 32-row tiles and a ragged last
// tile, GPT-2 124M's own shape (T = 1024, C = 768, 12 heads), and a non-default stream.
#define BOOST_TEST_MODULE cuda_attention
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "cpu/kernels_cpu.h"
#include "cuda/cuda_test_util.h"

namespace cpu = llmrt::kernels::cpu;
using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::random_floats;

namespace {

struct Shape {
  int B, T, C, NH;
};

// `stream`: where the kernels are queued (nullptr: the legacy default stream).
void check_attention(const Shape& s, unsigned seed, cudaStream_t stream = nullptr) {
  const auto [B, T, C, NH] = s;
  std::ostringstream name;
  name << "(B" << B << " T" << T << " hs" << C / NH << ") ";
  const std::string tag = name.str();
  std::mt19937 rng(seed);
  // [-2, 2] makes the softmax peaked enough that the online max rescaling matters.
  const auto qkv = round_bf16(random_floats(std::size_t(B) * T * 3 * C, rng, -2.0f, 2.0f));
  std::vector<float> out(std::size_t(B) * T * C), lse(std::size_t(B) * NH * T);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH);
  auto qkv_d = to_device_bf16(qkv);
  DeviceBuffer<bf16> out_d(out.size());
  DeviceBuffer<float> lse_d(lse.size());
  cu::attention_forward(out_d.get(), lse_d.get(), qkv_d.get(), B, T, C, NH, stream);
  LLMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
  check_close_bf16(to_host(out_d), out, T, tag + "attention out");
  check_close_bf16(to_host(lse_d), lse, T, tag + "attention lse", 0.1);

  // Backward from the CPU's forward (out rounded to bf16, as the GPU stores it), so only the
  // backward kernels are under test.
  const auto out16 = round_bf16(out);
  const auto dout = round_bf16(random_floats(out.size(), rng));
  // Small (but non-zero, to check +=) starting gradients, so the comparison is dominated by
  // what the kernels add rather than by what was there.
  auto dqkv = round_bf16(random_floats(qkv.size(), rng, -0.05f, 0.05f));
  auto out16_d = to_device_bf16(out16), dout_d = to_device_bf16(dout), dqkv_d = to_device_bf16(dqkv);
  lse_d.upload(lse.data(), lse.size());
  cpu::attention_backward(dqkv.data(), dout.data(), qkv.data(), out16.data(), lse.data(), B, T, C, NH);
  cu::attention_backward(dqkv_d.get(), dout_d.get(), qkv_d.get(), out16_d.get(), lse_d.get(), B, T, C, NH, stream);
  LLMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
  // D = dout . out is taken from bf16 out on the GPU (flash-attention's identity), from the
  // probabilities on the CPU: one more bf16 rounding, hence factor 4.
  check_close_bf16(to_host(dqkv_d), dqkv, T, tag + "attention dqkv", 4.0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(odd_head_size_matches_cpu) { check_attention({2, 37, 21, 3}, 40); }

BOOST_AUTO_TEST_CASE(head_size_64_matches_cpu) { check_attention({2, 77, 128, 2}, 41); }

BOOST_AUTO_TEST_CASE(head_size_128_matches_cpu) { check_attention({1, 101, 256, 2}, 42); }

BOOST_AUTO_TEST_CASE(head_sizes_48_80_96_match_cpu) {
  check_attention({1, 65, 96, 2}, 43);   // hs 48
  check_attention({1, 65, 160, 2}, 44);  // hs 80
  check_attention({1, 65, 192, 2}, 45);  // hs 96
}

// The benchmark's shape: one sequence of GPT-2 124M (T = 1024, C = 768, hs 64).
BOOST_AUTO_TEST_CASE(gpt2_124m_shape_matches_cpu) { check_attention({1, 1024, 768, 12}, 46); }

BOOST_AUTO_TEST_CASE(a_non_default_stream_matches_cpu) {
  cudaStream_t stream = nullptr;
  LLMRT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  check_attention({2, 77, 128, 2}, 47, stream);
  LLMRT_CUDA_CHECK(cudaStreamDestroy(stream));
}

BOOST_AUTO_TEST_CASE(head_size_over_128_is_refused) {
  DeviceBuffer<bf16> qkv_d(3 * 160), out_d(160);
  DeviceBuffer<float> lse_d(1);
  BOOST_CHECK_THROW(cu::attention_forward(out_d.get(), lse_d.get(), qkv_d.get(), 1, 1, 160, 1, nullptr),
                    cu::CudaError);
}

LLMRT_CUDA_TEST_MAIN()
