// The op table's extra CUDA kernels (kernels/cuda/ops_cuda.h: RMSNorm, layernorm from saved
// statistics, softmax, SiLU, products, scales, bias addition, column and whole sums) at fp32,
// bf16 and f16 against their fp32 CPU twins (kernels/cpu extra_cpu.cpp), on inputs rounded
// through the storage type, and the optimizer step's fp32 helpers (scale, sum of squares,
// mean, SGD), on a non-default stream, at odd widths (C = 35, 771: scalar path),
// GPT-2's (C = 768: 128-bit path), GPT-2's at an odd element offset and with only the weights at
// one (packed activations, scalar weight loads). Gradients start non-zero.
#define BOOST_TEST_MODULE cuda_ops
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cpu/kernels_cpu.h"
#include "cuda/cuda_dtype_util.h"
#include "cuda/ops_cuda.h"

namespace cpu = llmrt::kernels::cpu;
using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::random_floats;

namespace {
struct Rows {
  int N, C;
  std::size_t offset;   // of the activations in their allocations
  std::size_t woffset;  // of the weights, biases and their gradients
  const char* name;
  std::size_t NC() const { return std::size_t(N) * C; }
};
const Rows kRows[] = {
    {21, 35, 0, 0, "N21 C35"},      {10, 771, 0, 0, "N10 C771"},
    {1024, 768, 0, 0, "N1024 C768"}, {64, 768, 1, 1, "N64 C768 offset 1"},
    {64, 768, 0, 5, "N64 C768 weights at 5"}};
std::string label(const Rows& r, const char* what) { return std::string(what) + " [" + r.name + "]"; }
}  // namespace

BOOST_AUTO_TEST_CASE_TEMPLATE(rmsnorm_matches_cpu, T, StorageTypes) {
  cu::CudaStream stream;
  for (const Rows& r : kRows) {
    std::mt19937 rng(40);
    const auto inp = round_to<T>(random_floats(r.NC(), rng, -2.0f, 3.0f));
    const auto weight = round_to<T>(random_floats(r.C, rng, 0.5f, 1.5f));
    std::vector<float> out(r.NC()), rstd(r.N);
    cpu::rmsnorm_forward(out.data(), rstd.data(), inp.data(), weight.data(), r.N, r.C, 1e-5f);
    auto inp_d = device_copy<T>(inp, r.offset), w_d = device_copy<T>(weight, r.woffset);
    OffsetBuffer<T> out_d(r.NC(), r.offset);
    OffsetBuffer<float> rstd_d(r.N, 0);
    cu::rmsnorm_forward<T>(out_d.get(), rstd_d.get(), inp_d.get(), w_d.get(), r.N, r.C, 1e-5f, stream.get());
    check_close_t<T>(out_d.download(), out, r.C, label(r, "rmsnorm out"));
    check_close_t<T>(rstd_d.download(), rstd, r.C, label(r, "rmsnorm rstd"), 0.0);

    const auto dout = round_to<T>(random_floats(r.NC(), rng));
    auto dinp = round_to<T>(random_floats(r.NC(), rng, -0.05f, 0.05f));
    auto dw = random_floats(r.C, rng);
    auto dinp_d = device_copy<T>(dinp, r.offset), dout_d = device_copy<T>(dout, r.offset);
    auto dw_d = device_copy<float>(dw, r.woffset);
    rstd_d.upload(rstd);
    cpu::rmsnorm_backward(dinp.data(), dw.data(), dout.data(), inp.data(), weight.data(), rstd.data(), r.N, r.C);
    cu::rmsnorm_backward<T>(dinp_d.get(), dw_d.get(), dout_d.get(), inp_d.get(), w_d.get(), rstd_d.get(), r.N, r.C,
                            stream.get());
    check_close_t<T>(dinp_d.download(), dinp, r.C, label(r, "rmsnorm dinp"), 4.0);
    check_close_t<T>(dw_d.download(), dw, r.N, label(r, "rmsnorm dweight"), 0.0);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(layernorm_apply_matches_cpu, T, StorageTypes) {
  cu::CudaStream stream;
  for (const Rows& r : kRows) {
    std::mt19937 rng(41);
    const auto inp = round_to<T>(random_floats(r.NC(), rng, -2.0f, 3.0f));
    const auto weight = round_to<T>(random_floats(r.C, rng, 0.5f, 1.5f)), bias = round_to<T>(random_floats(r.C, rng));
    std::vector<float> out(r.NC()), mean(r.N), rstd(r.N);
    cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), r.N, r.C);
    auto inp_d = device_copy<T>(inp, r.offset), w_d = device_copy<T>(weight, r.woffset);
    auto b_d = device_copy<T>(bias, r.woffset);
    auto mean_d = device_copy<float>(mean), rstd_d = device_copy<float>(rstd);
    OffsetBuffer<T> out_d(r.NC(), r.offset);
    cu::layernorm_apply<T>(out_d.get(), inp_d.get(), mean_d.get(), rstd_d.get(), w_d.get(), b_d.get(), r.N, r.C,
                           stream.get());
    check_close_t<T>(out_d.download(), out, r.C, label(r, "layernorm_apply"));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(softmax_matches_cpu, T, StorageTypes) {
  cu::CudaStream stream;
  for (const Rows& r : kRows) {
    std::mt19937 rng(42);
    const auto inp = round_to<T>(random_floats(r.NC(), rng, -5.0f, 5.0f));
    std::vector<float> out(r.NC());
    cpu::softmax_forward(out.data(), inp.data(), r.N, r.C);
    auto inp_d = device_copy<T>(inp, r.offset);
    OffsetBuffer<T> out_d(r.NC(), r.offset);
    cu::softmax_forward<T>(out_d.get(), inp_d.get(), r.N, r.C, stream.get());
    const auto y = out_d.download();
    check_close_t<T>(y, out, r.C, label(r, "softmax out"));

    // Backward from the device's (rounded) output on both sides.
    const auto dout = round_to<T>(random_floats(r.NC(), rng));
    auto dinp = round_to<T>(random_floats(r.NC(), rng, -0.01f, 0.01f));
    auto dinp_d = device_copy<T>(dinp, r.offset), dout_d = device_copy<T>(dout, r.offset);
    cpu::softmax_backward(dinp.data(), dout.data(), y.data(), r.N, r.C);
    cu::softmax_backward<T>(dinp_d.get(), dout_d.get(), out_d.get(), r.N, r.C, stream.get());
    check_close_t<T>(dinp_d.download(), dinp, r.C, label(r, "softmax dinp"), 4.0);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(pointwise_match_cpu, T, StorageTypes) {
  cu::CudaStream stream;
  for (const std::size_t offset : {0, 1}) {
    for (const std::size_t n : {std::size_t(2001), std::size_t(1024) * 768}) {
      const std::string at = " [n " + std::to_string(n) + " offset " + std::to_string(offset) + "]";
      std::mt19937 rng(43);
      const auto a = round_to<T>(random_floats(n, rng, -4.0f, 4.0f)), b = round_to<T>(random_floats(n, rng));
      const auto acc0 = round_to<T>(random_floats(n, rng));
      auto a_d = device_copy<T>(a, offset), b_d = device_copy<T>(b, offset);
      OffsetBuffer<T> out_d(n, offset);
      std::vector<float> want(n);

      cpu::silu_forward(want.data(), a.data(), n);
      cu::silu_forward<T>(out_d.get(), a_d.get(), n, stream.get());
      check_close_t<T>(out_d.download(), want, 1, "silu out" + at);
      want = acc0;
      out_d.upload(acc0);
      cpu::silu_backward(want.data(), a.data(), b.data(), n);
      cu::silu_backward<T>(out_d.get(), a_d.get(), b_d.get(), n, stream.get());
      check_close_t<T>(out_d.download(), want, 1, "silu dinp" + at);

      cpu::mul_forward(want.data(), a.data(), b.data(), n);
      cu::mul_forward<T>(out_d.get(), a_d.get(), b_d.get(), n, stream.get());
      check_close_t<T>(out_d.download(), want, 1, "mul" + at, 1.0);
      want = acc0;
      out_d.upload(acc0);
      cpu::mul_accumulate(want.data(), a.data(), b.data(), n);
      cu::mul_accumulate<T>(out_d.get(), a_d.get(), b_d.get(), n, stream.get());
      check_close_t<T>(out_d.download(), want, 2, "mul_accumulate" + at, 1.0);
      cpu::scale_forward(want.data(), a.data(), -0.37f, n);
      cu::scale_forward<T>(out_d.get(), a_d.get(), -0.37f, n, stream.get());
      check_close_t<T>(out_d.download(), want, 1, "scale" + at, 1.0);
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(bias_and_sums_match_cpu, T, StorageTypes) {
  cu::CudaStream stream;
  for (const Rows& r : kRows) {
    std::mt19937 rng(44);
    const auto a = round_to<T>(random_floats(r.NC(), rng)), bias = round_to<T>(random_floats(r.C, rng));
    auto out = round_to<T>(random_floats(r.NC(), rng));
    auto out_d = device_copy<T>(out, r.offset);
    auto a_d = device_copy<T>(a, r.offset), bias_d = device_copy<T>(bias, r.woffset);
    cpu::add_bias(out.data(), a.data(), bias.data(), r.N, r.C);
    cu::add_bias<T>(out_d.get(), a_d.get(), bias_d.get(), r.N, r.C, stream.get());
    check_close_t<T>(out_d.download(), out, 3, label(r, "add_bias"), 1.0);
    cpu::add_bias(out.data(), nullptr, bias.data(), r.N, r.C);  // a NULL: out += bias
    cu::add_bias<T>(out_d.get(), nullptr, bias_d.get(), r.N, r.C, stream.get());
    check_close_t<T>(out_d.download(), out, 2, label(r, "add_bias without a"), 3.0);

    auto sums = random_floats(r.C, rng);
    auto sums_d = device_copy<float>(sums, r.woffset);
    cpu::sum_rows(sums.data(), a.data(), r.N, r.C);
    cu::sum_rows<T>(sums_d.get(), a_d.get(), r.N, r.C, stream.get());
    check_close_t<T>(sums_d.download(), sums, r.N, label(r, "sum_rows"), 0.0);

    DeviceBuffer<double> scalar_d(1), scratch_d(cu::kSumOfSquaresBlocks);
    for (const bool squares : {false, true}) {
      const double want = cpu::sum_all(a.data(), r.NC(), squares);
      cu::sum_all<T>(scalar_d.get(), a_d.get(), r.NC(), squares, scratch_d.get(), stream.get());
      stream.synchronize();
      double got = 0.0;
      scalar_d.download(&got, 1);
      // fp64 sums of identical inputs: only the order differs.
      BOOST_TEST(got == want, boost::test_tools::tolerance(1e-9));
      BOOST_TEST(std::fabs(want) > 1e-6, label(r, "sum_all") << " reference is ~0");
    }
  }
}

// The optimizer step's fp32 helpers: the clip's scale (one IEEE multiply: bit-equal), the
// gradient norm's sum of squares, the loss's mean and SGD.
BOOST_AUTO_TEST_CASE(step_helpers_match_cpu) {
  cu::CudaStream stream;
  for (const std::size_t offset : {0, 1}) {
    std::mt19937 rng(45);
    const std::size_t n = 100003;
    const auto x = random_floats(n, rng);
    auto x_d = device_copy<float>(x, offset);
    DeviceBuffer<double> sq_d(1), scratch_d(cu::kSumOfSquaresBlocks);
    DeviceBuffer<float> mean_d(1);
    cu::sum_of_squares(sq_d.get(), x_d.get(), n, scratch_d.get(), stream.get());
    cu::mean(mean_d.get(), x_d.get(), 1001, stream.get());
    stream.synchronize();
    double sq = 0.0;
    sq_d.download(&sq, 1);
    BOOST_TEST(sq == cpu::sum_all(x.data(), n, true), boost::test_tools::tolerance(1e-9));
    const double want_mean = cpu::sum_all(x.data(), 1001, false) / 1001;
    BOOST_TEST(std::fabs(to_host(mean_d)[0] - want_mean) <= 1e-5);
    cu::scale(x_d.get(), n, 0.37f, stream.get());
    std::vector<float> scaled(x);
    for (float& v : scaled) v *= 0.37f;
    check_equal(x_d.download(), scaled, "scale [offset " + std::to_string(offset) + "]");

    // SGD, torch semantics (kernels_cuda.h), two steps with and without a momentum buffer.
    for (const float momentum : {0.0f, 0.9f}) {
      auto p = random_floats(n, rng), buf = std::vector<float>(n, 0.0f);
      const auto g = random_floats(n, rng);
      auto p_d = device_copy<float>(p, offset), buf_d = device_copy<float>(buf, offset);
      auto g_d = device_copy<float>(g, offset);
      for (int step = 0; step < 2; step++) {
        for (std::size_t i = 0; i < n; i++) {
          float d = g[i] + 0.1f * p[i];
          if (momentum > 0) d = buf[i] = momentum * buf[i] + d;
          p[i] -= 0.05f * d;
        }
        cu::sgd_update(p_d.get(), g_d.get(), momentum > 0 ? buf_d.get() : nullptr, n, 0.05f, momentum, 0.1f,
                       stream.get());
      }
      llmrt::kernels::test::check_close(p_d.download(), p, 4, "sgd params momentum " + std::to_string(momentum));
    }
  }
}

LLMRT_CUDA_TEST_MAIN()
