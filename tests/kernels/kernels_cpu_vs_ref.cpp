// Every cpu:: kernel against its ref:: twin on random, odd-sized, non-zero inputs. Gradients
// start from random non-zero values, so the += contract of backward kernels is checked too.
#define BOOST_TEST_MODULE kernels_cpu_vs_ref
#include <boost/test/unit_test.hpp>

#include "cpu/fast_exp_cpu.h"
#include "cpu/kernels_cpu.h"
#include "kernels/kernel_test_util.h"
#include "ref/kernels_ref.h"

namespace ref = llmrt::kernels::ref;
namespace cpu = llmrt::kernels::cpu;
using namespace llmrt::kernels::test;

namespace {
// Odd sizes: B*T rows not a multiple of any vector width; hs = 7 is odd too.
constexpr int B = 3, T = 7, C = 35, NH = 5, V = 101, OC = 53, N = B * T;
}  // namespace

BOOST_AUTO_TEST_CASE(set_cpu_threads_round_trips) {
  cpu::set_cpu_threads(2);
  BOOST_TEST(cpu::cpu_threads() == 2);
  cpu::set_cpu_threads(0);  // clamps to one thread
  BOOST_TEST(cpu::cpu_threads() == 1);
  cpu::set_cpu_threads(3);  // the remaining tests run multi-threaded, with odd splits
}

BOOST_AUTO_TEST_CASE(encoder_matches_ref) {
  std::mt19937 rng(1);
  const int vocab = 11;  // small, so tokens repeat and dwte rows collect several positions
  auto tokens = random_tokens(N, vocab, rng);
  auto wte = random_floats(std::size_t(vocab) * C, rng), wpe = random_floats(std::size_t(T) * C, rng);
  std::vector<float> out_ref(N * C), out_cpu(N * C);
  ref::encoder_forward(out_ref.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
  cpu::encoder_forward(out_cpu.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
  check_close(out_cpu, out_ref, 1, "encoder out");

  auto dout = random_floats(N * C, rng);
  auto dwte_ref = random_floats(wte.size(), rng), dwpe_ref = random_floats(wpe.size(), rng);
  auto dwte_cpu = dwte_ref, dwpe_cpu = dwpe_ref;
  ref::encoder_backward(dwte_ref.data(), dwpe_ref.data(), dout.data(), tokens.data(), B, T, C);
  cpu::encoder_backward(dwte_cpu.data(), dwpe_cpu.data(), dout.data(), tokens.data(), B, T, C);
  check_close(dwte_cpu, dwte_ref, N, "encoder dwte");
  check_close(dwpe_cpu, dwpe_ref, B, "encoder dwpe");
}

BOOST_AUTO_TEST_CASE(layernorm_matches_ref) {
  std::mt19937 rng(2);
  auto inp = random_floats(N * C, rng, -2.0f, 3.0f);  // non-zero mean, to exercise centring
  auto weight = random_floats(C, rng, 0.5f, 1.5f), bias = random_floats(C, rng);
  std::vector<float> out_ref(N * C), out_cpu(N * C), mean_ref(N), mean_cpu(N), rstd_ref(N), rstd_cpu(N);
  ref::layernorm_forward(out_ref.data(), mean_ref.data(), rstd_ref.data(), inp.data(), weight.data(),
                         bias.data(), N, C);
  cpu::layernorm_forward(out_cpu.data(), mean_cpu.data(), rstd_cpu.data(), inp.data(), weight.data(),
                         bias.data(), N, C);
  check_close(out_cpu, out_ref, C, "layernorm out");
  check_close(mean_cpu, mean_ref, C, "layernorm mean");
  check_close(rstd_cpu, rstd_ref, C, "layernorm rstd");

  auto dout = random_floats(N * C, rng);
  auto dinp_ref = random_floats(N * C, rng), dw_ref = random_floats(C, rng), db_ref = random_floats(C, rng);
  auto dinp_cpu = dinp_ref, dw_cpu = dw_ref, db_cpu = db_ref;
  ref::layernorm_backward(dinp_ref.data(), dw_ref.data(), db_ref.data(), dout.data(), inp.data(),
                          weight.data(), mean_ref.data(), rstd_ref.data(), N, C);
  cpu::layernorm_backward(dinp_cpu.data(), dw_cpu.data(), db_cpu.data(), dout.data(), inp.data(),
                          weight.data(), mean_ref.data(), rstd_ref.data(), N, C);
  check_close(dinp_cpu, dinp_ref, C, "layernorm dinp");
  check_close(dw_cpu, dw_ref, N, "layernorm dweight");
  check_close(db_cpu, db_ref, N, "layernorm dbias");

  // The split passes: input only, then parameters only, must add up to the same result.
  auto dinp_split = dinp_cpu, dw_split = dw_cpu, db_split = db_cpu;
  cpu::layernorm_backward(dinp_split.data(), nullptr, nullptr, dout.data(), inp.data(), weight.data(),
                          mean_ref.data(), rstd_ref.data(), N, C);
  cpu::layernorm_backward(nullptr, dw_split.data(), db_split.data(), dout.data(), inp.data(),
                          weight.data(), mean_ref.data(), rstd_ref.data(), N, C);
  ref::layernorm_backward(dinp_ref.data(), dw_ref.data(), db_ref.data(), dout.data(), inp.data(),
                          weight.data(), mean_ref.data(), rstd_ref.data(), N, C);
  check_close(dinp_split, dinp_ref, C, "layernorm dinp (split)");
  check_close(dw_split, dw_ref, N, "layernorm dweight (split)");
  check_close(db_split, db_ref, N, "layernorm dbias (split)");
}

namespace {
// One matmul shape through forward, the split backward and the fused backward.
void check_matmul(int rows, int c, int oc, bool with_bias, unsigned seed) {
  std::mt19937 rng(seed);
  const std::string tag = "matmul " + std::to_string(rows) + "x" + std::to_string(c) + "x" +
                          std::to_string(oc) + (with_bias ? " bias" : "");
  auto inp = random_floats(std::size_t(rows) * c, rng), weight = random_floats(std::size_t(oc) * c, rng);
  auto bias = random_floats(oc, rng);
  const float* b = with_bias ? bias.data() : nullptr;
  std::vector<float> out_ref(std::size_t(rows) * oc), out_cpu(out_ref.size());
  ref::matmul_forward(out_ref.data(), inp.data(), weight.data(), b, rows, c, oc);
  cpu::matmul_forward(out_cpu.data(), inp.data(), weight.data(), b, rows, c, oc);
  check_close(out_cpu, out_ref, c, tag + " out");

  auto dout = random_floats(out_ref.size(), rng);
  auto dinp_ref = random_floats(inp.size(), rng), dw_ref = random_floats(weight.size(), rng);
  auto db_ref = random_floats(oc, rng);
  auto dinp_cpu = dinp_ref, dw_cpu = dw_ref, db_cpu = db_ref;
  auto dinp_fused = dinp_ref, dw_fused = dw_ref, db_fused = db_ref;
  float* db_r = with_bias ? db_ref.data() : nullptr;
  ref::matmul_backward_input(dinp_ref.data(), dout.data(), weight.data(), rows, c, oc);
  ref::matmul_backward_weight(dw_ref.data(), db_r, dout.data(), inp.data(), rows, c, oc);
  cpu::matmul_backward_input(dinp_cpu.data(), dout.data(), weight.data(), rows, c, oc);
  cpu::matmul_backward_weight(dw_cpu.data(), with_bias ? db_cpu.data() : nullptr, dout.data(),
                              inp.data(), rows, c, oc);
  cpu::matmul_backward(dinp_fused.data(), dw_fused.data(), with_bias ? db_fused.data() : nullptr,
                       dout.data(), inp.data(), weight.data(), rows, c, oc);
  check_close(dinp_cpu, dinp_ref, oc, tag + " dinp");
  check_close(dw_cpu, dw_ref, rows, tag + " dweight");
  check_close(db_cpu, db_ref, rows, tag + " dbias");  // without bias: still the seeded values
  check_close(dinp_fused, dinp_ref, oc, tag + " dinp (fused)");
  check_close(dw_fused, dw_ref, rows, tag + " dweight (fused)");
  check_close(db_fused, db_ref, rows, tag + " dbias (fused)");
}
}  // namespace

BOOST_AUTO_TEST_CASE(matmul_matches_ref) {
  check_matmul(N, C, OC, true, 3);
  check_matmul(N, C, OC, false, 4);
  // Large enough for OpenBLAS to block and thread, still odd everywhere.
  check_matmul(131, 257, 301, true, 5);
}

// The vectorisable exp behind softmax, GELU and cross-entropy, against std::exp on a sweep of
// its whole normal range and at the ends (softmax masks with -inf, GELU's tail reaches 80).
BOOST_AUTO_TEST_CASE(fast_exp_matches_std_exp) {
  using llmrt::kernels::cpu::detail::fast_exp;
  double worst = 0.0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::fabs(fast_exp(x) - want) / want);
  }
  BOOST_TEST(worst <= 3 * kEps32, "worst relative error " << worst);
  BOOST_TEST(fast_exp(0.0f) == 1.0f);
  BOOST_TEST(fast_exp(-INFINITY) == 0.0f);
  BOOST_TEST(fast_exp(-100.0f) == 0.0f);
  BOOST_TEST(std::isinf(fast_exp(100.0f)));
  BOOST_TEST(std::isinf(fast_exp(INFINITY)));
  BOOST_TEST(std::isnan(fast_exp(NAN)));
}

BOOST_AUTO_TEST_CASE(gelu_matches_ref) {
  std::mt19937 rng(6);
  const std::size_t n = std::size_t(N) * 4 * C + 3;
  auto inp = random_floats(n, rng, -4.0f, 4.0f);  // reaches both tails of tanh
  // Far tails too, where a naive exp(-2u) overflows and the gradient must not turn into NaN.
  inp[0] = -30.0f, inp[1] = -12.0f, inp[2] = 12.0f, inp[3] = 30.0f;
  std::vector<float> out_ref(n), out_cpu(n);
  ref::gelu_forward(out_ref.data(), inp.data(), n);
  cpu::gelu_forward(out_cpu.data(), inp.data(), n);
  check_close(out_cpu, out_ref, 1, "gelu out");
  auto dout = random_floats(n, rng);
  auto dinp_ref = random_floats(n, rng);
  auto dinp_cpu = dinp_ref;
  ref::gelu_backward(dinp_ref.data(), inp.data(), dout.data(), n);
  cpu::gelu_backward(dinp_cpu.data(), inp.data(), dout.data(), n);
  // The derivative adds three rounded terms (1 + th, x (1 - th^2) du/dx), hence 3.
  check_close(dinp_cpu, dinp_ref, 3, "gelu dinp");
}

BOOST_AUTO_TEST_CASE(residual_matches_ref) {
  std::mt19937 rng(7);
  const std::size_t n = 100003;  // above the threshold where the kernels go parallel
  auto a = random_floats(n, rng), b = random_floats(n, rng);
  std::vector<float> out_ref(n), out_cpu(n);
  ref::residual_forward(out_ref.data(), a.data(), b.data(), n);
  cpu::residual_forward(out_cpu.data(), a.data(), b.data(), n);
  check_close(out_cpu, out_ref, 1, "residual out");
  auto in_place = a;  // out aliasing a is allowed
  cpu::residual_forward(in_place.data(), in_place.data(), b.data(), n);
  check_close(in_place, out_ref, 1, "residual out (in place)");
  auto acc_ref = a, acc_cpu = a;
  ref::residual_accumulate(acc_ref.data(), b.data(), n);
  cpu::residual_accumulate(acc_cpu.data(), b.data(), n);
  check_close(acc_cpu, acc_ref, 1, "residual accumulate");
}

namespace {
void check_attention(int b, int t, int c, int nh, unsigned seed) {
  std::mt19937 rng(seed);
  const std::string tag = "attention B" + std::to_string(b) + " T" + std::to_string(t) + " C" +
                          std::to_string(c) + " NH" + std::to_string(nh);
  const int hs = c / nh;
  auto qkv = random_floats(std::size_t(b) * t * 3 * c, rng, -1.5f, 1.5f);
  std::vector<float> out_ref(std::size_t(b) * t * c), out_cpu(out_ref.size());
  std::vector<float> lse_ref(std::size_t(b) * nh * t), lse_cpu(lse_ref.size());
  ref::attention_forward(out_ref.data(), lse_ref.data(), qkv.data(), b, t, c, nh);
  cpu::attention_forward(out_cpu.data(), lse_cpu.data(), qkv.data(), b, t, c, nh);
  // Each output sums t value rows weighted by softmax terms that are each an hs-long dot.
  check_close(out_cpu, out_ref, hs + t, tag + " out");
  check_close(lse_cpu, lse_ref, hs + t, tag + " lse");

  auto dout = random_floats(out_ref.size(), rng);
  auto dqkv_ref = random_floats(qkv.size(), rng);
  auto dqkv_cpu = dqkv_ref;
  ref::attention_backward(dqkv_ref.data(), dout.data(), qkv.data(), out_ref.data(), lse_ref.data(),
                          b, t, c, nh);
  cpu::attention_backward(dqkv_cpu.data(), dout.data(), qkv.data(), out_cpu.data(), lse_cpu.data(),
                          b, t, c, nh);
  check_close(dqkv_cpu, dqkv_ref, hs + t, tag + " dqkv");
}
}  // namespace

BOOST_AUTO_TEST_CASE(attention_matches_ref) {
  check_attention(B, T, C, NH, 8);
  check_attention(2, 33, 36, 3, 9);  // longer rows, hs = 12
  check_attention(1, 1, 7, 1, 10);   // a single position attends only to itself
  // Several blocks of query rows, the last one partial; hs = 19. Six (batch, head) pairs go to
  // the team of three, each thread with single-threaded BLAS.
  check_attention(2, 150, 57, 3, 12);
  check_attention(1, 131, 40, 2, 13);  // fewer pairs than threads: one thread, threaded BLAS
}

BOOST_AUTO_TEST_CASE(crossentropy_matches_ref) {
  std::mt19937 rng(11);
  auto logits = random_floats(std::size_t(N) * V, rng, -3.0f, 3.0f);
  auto targets = random_tokens(N, V, rng);
  std::vector<float> losses_ref(N), losses_cpu(N), lse_ref(N), lse_cpu(N);
  const float mean_ref = ref::crossentropy_forward(losses_ref.data(), lse_ref.data(), logits.data(),
                                                   targets.data(), N, V);
  const float mean_cpu = cpu::crossentropy_forward(losses_cpu.data(), lse_cpu.data(), logits.data(),
                                                   targets.data(), N, V);
  check_close(losses_cpu, losses_ref, V, "crossentropy losses");
  check_close(lse_cpu, lse_ref, V, "crossentropy lse");
  check_close({mean_cpu}, {mean_ref}, V + N, "crossentropy mean loss");

  const float dloss = 1.7f;
  std::vector<float> dlogits_ref(logits.size()), dlogits_cpu(logits.size());
  ref::crossentropy_backward(dlogits_ref.data(), logits.data(), lse_ref.data(), targets.data(), dloss,
                             N, V);
  cpu::crossentropy_backward(dlogits_cpu.data(), logits.data(), lse_cpu.data(), targets.data(), dloss,
                             N, V);
  check_close(dlogits_cpu, dlogits_ref, V, "crossentropy dlogits");
  auto in_place = logits;  // dlogits aliasing logits is allowed
  cpu::crossentropy_backward(in_place.data(), in_place.data(), lse_cpu.data(), targets.data(), dloss,
                             N, V);
  check_close(in_place, dlogits_ref, V, "crossentropy dlogits (in place)");
}

// A padded vocabulary: logits (N, Vp) whose columns [V, Vp) hold large values that must not count.
// The loss is the unpadded one of the first V columns; dlogits is zero on the padded columns.
BOOST_AUTO_TEST_CASE(crossentropy_padded_matches_ref_and_ignores_the_padding) {
  std::mt19937 rng(21);
  const int v = 37, vp = 64, n = 19;
  auto padded = random_floats(std::size_t(n) * vp, rng, -3.0f, 3.0f);
  for (int i = 0; i < n; ++i) {
    for (int j = v; j < vp; ++j) padded[std::size_t(i) * vp + j] = 50.0f + float(j);  // would dominate the softmax
  }
  std::vector<float> compact(std::size_t(n) * v);
  for (int i = 0; i < n; ++i) std::copy_n(padded.data() + std::size_t(i) * vp, v, compact.data() + std::size_t(i) * v);
  auto targets = random_tokens(n, v, rng);
  std::vector<float> losses(n), lse(n), losses_padded(n), lse_padded(n), losses_ref(n), lse_ref(n);
  const float mean = cpu::crossentropy_forward(losses.data(), lse.data(), compact.data(), targets.data(), n, v);
  const float mean_padded =
      cpu::crossentropy_forward(losses_padded.data(), lse_padded.data(), padded.data(), targets.data(), n, v, vp);
  const float mean_ref = ref::crossentropy_forward(losses_ref.data(), lse_ref.data(), padded.data(), targets.data(), n, v, vp);
  BOOST_TEST(losses_padded == losses);  // the same row function over the same V values: bit for bit
  BOOST_TEST(mean_padded == mean);
  check_close(losses_ref, losses, v, "padded crossentropy losses (ref)");
  check_close({mean_ref}, {mean}, v + n, "padded crossentropy mean (ref)");

  const float dloss = 0.9f;
  std::vector<float> d_compact(compact.size()), d_ref(padded.size(), -1.0f);
  cpu::crossentropy_backward(d_compact.data(), compact.data(), lse.data(), targets.data(), dloss, n, v);
  auto in_place = padded;  // in place, as gpt.head runs it
  cpu::crossentropy_backward(in_place.data(), in_place.data(), lse_padded.data(), targets.data(), dloss, n, v, vp);
  ref::crossentropy_backward(d_ref.data(), padded.data(), lse_ref.data(), targets.data(), dloss, n, v, vp);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < vp; ++j) {
      const float got = in_place[std::size_t(i) * vp + j], want = d_ref[std::size_t(i) * vp + j];
      if (j >= v) {
        BOOST_TEST(got == 0.0f, "row " << i << " padded column " << j);
        BOOST_TEST(want == 0.0f, "ref row " << i << " padded column " << j);
      } else {
        BOOST_TEST(got == d_compact[std::size_t(i) * v + j], "row " << i << " column " << j);
      }
    }
  }
  std::vector<float> real_ref;
  std::vector<float> real_cpu;
  for (int i = 0; i < n; ++i) {
    real_ref.insert(real_ref.end(), d_ref.begin() + i * vp, d_ref.begin() + i * vp + v);
    real_cpu.insert(real_cpu.end(), in_place.begin() + i * vp, in_place.begin() + i * vp + v);
  }
  check_close(real_cpu, real_ref, v, "padded crossentropy dlogits");
}

BOOST_AUTO_TEST_CASE(adamw_matches_ref) {
  std::mt19937 rng(12);
  const std::size_t n = 70001;
  auto params_ref = random_floats(n, rng), grads = random_floats(n, rng, -0.1f, 0.1f);
  auto m_ref = random_floats(n, rng, -0.01f, 0.01f), v_ref = random_floats(n, rng, 0.0f, 1e-3f);
  auto params_cpu = params_ref, m_cpu = m_ref, v_cpu = v_ref;
  for (int t = 3; t <= 5; t++) {  // a few steps, so state written by one step feeds the next
    ref::adamw_update(params_ref.data(), grads.data(), m_ref.data(), v_ref.data(), n, 1e-3f, 0.9f,
                      0.95f, 1e-8f, 0.1f, t);
    cpu::adamw_update(params_cpu.data(), grads.data(), m_cpu.data(), v_cpu.data(), n, 1e-3f, 0.9f,
                      0.95f, 1e-8f, 0.1f, t);
  }
  check_close(params_cpu, params_ref, 3, "adamw params");
  check_close(m_cpu, m_ref, 3, "adamw m");
  check_close(v_cpu, v_ref, 3, "adamw v");
}
