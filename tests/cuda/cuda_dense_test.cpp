// CUDA position-wise kernels (conversions, encoder, layernorm, GELU, residual, AdamW) against
// the fp32 CPU kernels, on odd-sized non-zero inputs rounded through bf16 first. Gradients
// start non-zero, so the += contract is checked too.
#define BOOST_TEST_MODULE cuda_dense
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cpu/kernels_cpu.h"
#include "cuda/cuda_test_util.h"

namespace cpu = llmrt::kernels::cpu;
using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::random_floats;
using llmrt::kernels::test::random_tokens;

namespace {
constexpr int B = 3, T = 7, C = 35, N = B * T;  // odd everywhere: no vector width divides them
}  // namespace

BOOST_AUTO_TEST_CASE(conversions_round_trip) {
  std::mt19937 rng(10);
  const auto x = random_floats(1001, rng, -3.0f, 3.0f);
  const DeviceBuffer<float> x_d = to_device(x);
  DeviceBuffer<bf16> b_d(x.size());
  DeviceBuffer<float> back_d(x.size());
  cu::float_to_bf16(b_d.get(), x_d.get(), x.size(), nullptr);
  cu::bf16_to_float(back_d.get(), b_d.get(), x.size(), nullptr);
  const auto back = to_host(back_d), want = round_bf16(x);
  BOOST_TEST(back == want, boost::test_tools::per_element());  // rounding is exact: bit-equal
}

BOOST_AUTO_TEST_CASE(encoder_matches_cpu) {
  std::mt19937 rng(11);
  const int vocab = 11;  // small, so tokens repeat and dwte rows collect several positions
  const auto tokens = random_tokens(N, vocab, rng);
  const auto wte = round_bf16(random_floats(std::size_t(vocab) * C, rng));
  const auto wpe = round_bf16(random_floats(std::size_t(T) * C, rng));
  std::vector<float> out(N * C);
  cpu::encoder_forward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
  auto tokens_d = to_device(tokens);
  auto wte_d = to_device_bf16(wte), wpe_d = to_device_bf16(wpe);
  DeviceBuffer<bf16> out_d(N * C);
  cu::encoder_forward(out_d.get(), tokens_d.get(), wte_d.get(), wpe_d.get(), B, T, C, nullptr);
  check_close_bf16(to_host(out_d), out, 1, "encoder out");

  const auto dout = round_bf16(random_floats(N * C, rng));
  auto dwte = random_floats(wte.size(), rng), dwpe = random_floats(wpe.size(), rng);
  auto dwte_d = to_device(dwte), dwpe_d = to_device(dwpe);
  auto dout_d = to_device_bf16(dout);
  cpu::encoder_backward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), B, T, C);
  cu::encoder_backward(dwte_d.get(), dwpe_d.get(), dout_d.get(), tokens_d.get(), B, T, C, nullptr);
  check_close_bf16(to_host(dwte_d), dwte, N, "encoder dwte");
  check_close_bf16(to_host(dwpe_d), dwpe, B, "encoder dwpe");
}

BOOST_AUTO_TEST_CASE(layernorm_matches_cpu) {
  std::mt19937 rng(12);
  const auto inp = round_bf16(random_floats(N * C, rng, -2.0f, 3.0f));  // non-zero mean
  const auto weight = round_bf16(random_floats(C, rng, 0.5f, 1.5f)), bias = round_bf16(random_floats(C, rng));
  std::vector<float> out(N * C), mean(N), rstd(N);
  cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N, C);
  auto inp_d = to_device_bf16(inp), w_d = to_device_bf16(weight), b_d = to_device_bf16(bias);
  DeviceBuffer<bf16> out_d(N * C);
  DeviceBuffer<float> mean_d(N), rstd_d(N);
  cu::layernorm_forward(out_d.get(), mean_d.get(), rstd_d.get(), inp_d.get(), w_d.get(), b_d.get(), N, C, nullptr);
  check_close_bf16(to_host(out_d), out, C, "layernorm out");
  check_close_bf16(to_host(mean_d), mean, C, "layernorm mean", 0.01);
  check_close_bf16(to_host(rstd_d), rstd, C, "layernorm rstd", 0.01);

  // Backward from the CPU's statistics, so only the backward kernel is under test.
  const auto dout = round_bf16(random_floats(N * C, rng));
  auto dinp = round_bf16(random_floats(N * C, rng, -0.05f, 0.05f));  // small: the added part shows
  auto dw = random_floats(C, rng), db = random_floats(C, rng);
  auto dinp_d = to_device_bf16(dinp), dout_d = to_device_bf16(dout);
  auto dw_d = to_device(dw), db_d = to_device(db);
  mean_d.upload(mean.data(), N);
  rstd_d.upload(rstd.data(), N);
  cpu::layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), weight.data(),
                          mean.data(), rstd.data(), N, C);
  // The split passes, input then parameters, must add up to the fused call.
  cu::layernorm_backward(dinp_d.get(), nullptr, nullptr, dout_d.get(), inp_d.get(), w_d.get(),
                         mean_d.get(), rstd_d.get(), N, C, nullptr);
  cu::layernorm_backward(nullptr, dw_d.get(), db_d.get(), dout_d.get(), inp_d.get(), w_d.get(),
                         mean_d.get(), rstd_d.get(), N, C, nullptr);
  check_close_bf16(to_host(dinp_d), dinp, C, "layernorm dinp", 4.0);
  check_close_bf16(to_host(dw_d), dw, N, "layernorm dweight");
  check_close_bf16(to_host(db_d), db, N, "layernorm dbias");
}

BOOST_AUTO_TEST_CASE(gelu_matches_cpu) {
  std::mt19937 rng(13);
  const std::size_t n = 2001;  // spans several blocks of the grid-stride loop
  const auto inp = round_bf16(random_floats(n, rng, -4.0f, 4.0f));
  std::vector<float> out(n);
  cpu::gelu_forward(out.data(), inp.data(), n);
  auto inp_d = to_device_bf16(inp);
  DeviceBuffer<bf16> out_d(n);
  cu::gelu_forward(out_d.get(), inp_d.get(), n, nullptr);
  check_close_bf16(to_host(out_d), out, 1, "gelu out");

  const auto dout = round_bf16(random_floats(n, rng));
  auto dinp = round_bf16(random_floats(n, rng));
  auto dinp_d = to_device_bf16(dinp), dout_d = to_device_bf16(dout);
  cpu::gelu_backward(dinp.data(), inp.data(), dout.data(), n);
  cu::gelu_backward(dinp_d.get(), inp_d.get(), dout_d.get(), n, nullptr);
  check_close_bf16(to_host(dinp_d), dinp, 1, "gelu dinp");
}

BOOST_AUTO_TEST_CASE(residual_matches_cpu) {
  std::mt19937 rng(14);
  const std::size_t n = 1003;
  const auto a = round_bf16(random_floats(n, rng)), b = round_bf16(random_floats(n, rng));
  std::vector<float> out(n);
  cpu::residual_forward(out.data(), a.data(), b.data(), n);
  auto a_d = to_device_bf16(a), b_d = to_device_bf16(b);
  DeviceBuffer<bf16> out_d(n);
  cu::residual_forward(out_d.get(), a_d.get(), b_d.get(), n, nullptr);
  check_close_bf16(to_host(out_d), out, 1, "residual out");

  auto acc = a;
  cpu::residual_accumulate(acc.data(), b.data(), n);
  cu::residual_accumulate(a_d.get(), b_d.get(), n, nullptr);
  check_close_bf16(to_host(a_d), acc, 1, "residual accumulate");
}

// fp32 throughout, so the tolerance is fp32's; the bf16 copy must be the rounded master weight.
BOOST_AUTO_TEST_CASE(adamw_matches_cpu) {
  std::mt19937 rng(15);
  const std::size_t n = 1009;
  auto params = random_floats(n, rng), grads = random_floats(n, rng);
  auto m = random_floats(n, rng, -0.1f, 0.1f), v = random_floats(n, rng, 0.01f, 0.1f);
  auto p_d = to_device(params), g_d = to_device(grads), m_d = to_device(m), v_d = to_device(v);
  DeviceBuffer<bf16> p16_d(n);
  for (int t = 1; t <= 3; t++) {
    cpu::adamw_update(params.data(), grads.data(), m.data(), v.data(), n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t);
    cu::adamw_update(p_d.get(), g_d.get(), m_d.get(), v_d.get(), n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t,
                     p16_d.get(), nullptr);
  }
  using llmrt::kernels::test::check_close;
  check_close(to_host(p_d), params, 16, "adamw params");
  check_close(to_host(m_d), m, 16, "adamw m");
  check_close(to_host(v_d), v, 16, "adamw v");
  check_close_bf16(to_host(p16_d), to_host(p_d), 1, "adamw bf16 copy", 0.5);
}

LLMRT_CUDA_TEST_MAIN()
