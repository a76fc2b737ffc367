// CUDA matmuls (cuBLASLt, bias epilogue, fp32 weight gradients) against the fp32 CPU kernels,
// on odd shapes (which may take the fallback kernel) and on aligned ones (which must not).
#define BOOST_TEST_MODULE cuda_matmul
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
  int N, C, OC;
};

// Forward with and without bias, then both backward passes (+= onto non-zero gradients).
void check_matmul(const Shape& s, cu::GemmContext& gemm, unsigned seed) {
  const auto [N, C, OC] = s;
  std::ostringstream name;
  name << "(" << N << "," << C << "," << OC << ") ";
  const std::string tag = name.str();
  std::mt19937 rng(seed);
  const auto inp = round_bf16(random_floats(std::size_t(N) * C, rng));
  const auto weight = round_bf16(random_floats(std::size_t(OC) * C, rng));
  const auto bias = round_bf16(random_floats(OC, rng));
  auto inp_d = to_device_bf16(inp), w_d = to_device_bf16(weight), b_d = to_device_bf16(bias);
  DeviceBuffer<bf16> out_d(std::size_t(N) * OC);
  std::vector<float> out(std::size_t(N) * OC);
  for (const bool with_bias : {true, false}) {
    cpu::matmul_forward(out.data(), inp.data(), weight.data(), with_bias ? bias.data() : nullptr, N, C, OC);
    cu::matmul_forward(out_d.get(), inp_d.get(), w_d.get(), with_bias ? b_d.get() : nullptr, N, C, OC,
                       gemm, nullptr);
    check_close_bf16(to_host(out_d), out, C, tag + (with_bias ? "matmul out (bias)" : "matmul out"));
  }

  const auto dout = round_bf16(random_floats(std::size_t(N) * OC, rng));
  auto dinp = round_bf16(random_floats(std::size_t(N) * C, rng, -0.05f, 0.05f));  // small: the sum shows
  auto dw = random_floats(weight.size(), rng), db = random_floats(OC, rng);
  auto dout_d = to_device_bf16(dout), dinp_d = to_device_bf16(dinp);
  auto dw_d = to_device(dw), db_d = to_device(db);
  cpu::matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(), N, C, OC);
  cu::matmul_backward(dinp_d.get(), dw_d.get(), db_d.get(), dout_d.get(), inp_d.get(), w_d.get(), N, C, OC,
                      gemm, nullptr);
  check_close_bf16(to_host(dinp_d), dinp, OC, tag + "matmul dinp");
  check_close_bf16(to_host(dw_d), dw, N, tag + "matmul dweight");
  check_close_bf16(to_host(db_d), db, N, tag + "matmul dbias");
}

}  // namespace

BOOST_AUTO_TEST_CASE(odd_shapes_match_cpu) {
  cu::GemmContext gemm;
  check_matmul({21, 35, 53}, gemm, 20);
  check_matmul({1, 7, 3}, gemm, 21);
  BOOST_TEST_MESSAGE("fallback GEMM calls on odd shapes: " << gemm.fallback_calls());
}

// The shapes a GPT layer uses are multiples of 8: they must run on cuBLASLt, not the fallback.
BOOST_AUTO_TEST_CASE(aligned_shapes_use_cublaslt) {
  cu::GemmContext gemm;
  check_matmul({64, 128, 192}, gemm, 22);
  check_matmul({136, 96, 384}, gemm, 23);
  BOOST_TEST(gemm.fallback_calls() == 0u);
  BOOST_TEST(gemm.algo_cache().size() > 0u);
}

// A second call of one shape must reuse the cached algorithm and give the same answer.
BOOST_AUTO_TEST_CASE(algorithm_cache_is_reused) {
  cu::GemmContext gemm;
  check_matmul({64, 128, 192}, gemm, 24);
  const auto cached = gemm.algo_cache().size();
  check_matmul({64, 128, 192}, gemm, 25);
  BOOST_TEST(gemm.algo_cache().size() == cached);
}

LLMRT_CUDA_TEST_MAIN()
