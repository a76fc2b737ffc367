// Finite-difference checks of every ref:: backward kernel: the gradient of a scalar loss
// L = sum(out * w), w random, against central differences of L through the ref forward.
//
// Why fp32 differences with h ~ 1e-2 and a 1e-2 relative tolerance: the kernels are fp32 only.
// L is summed in double, so its error is the outputs' fp32 rounding, ~eps32 * |out| per term;
// divided by 2h that is ~1e-5 of the gradient. Truncation is O(h^2 * f''') ~ 1e-4 for inputs
// of order one. Both sit two orders below the tolerance, which still catches any wrong term
// (a missing factor or index is an O(1) error).
#define BOOST_TEST_MODULE kernels_ref_gradcheck
#include <boost/test/unit_test.hpp>

#include "kernels/kernel_test_util.h"
#include "ref/kernels_ref.h"

#include <functional>

namespace ref = llmrt::kernels::ref;
using namespace llmrt::kernels::test;

namespace {
constexpr int B = 3, T = 7, C = 35, NH = 5, V = 23, OC = 19, N = B * T;
constexpr double kStep = 1e-2;
constexpr double kRelTol = 1e-2;
constexpr int kPointsPerTensor = 40;

double weighted_sum(const std::vector<float>& out, const std::vector<float>& w) {
  double s = 0.0;
  for (std::size_t i = 0; i < out.size(); i++) s += double(out[i]) * w[i];
  return s;
}

// Checks `analytic` = dL/dx at up to kPointsPerTensor random coordinates of x; `loss` reruns
// the forward with the current x. The step actually taken is what fp32 x can represent.
void gradcheck(std::vector<float>& x, const std::vector<float>& analytic,
               const std::function<double()>& loss, const std::string& what, unsigned seed) {
  require_nonzero(analytic, what + " analytic gradient");
  const double scale = rms(analytic);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, x.size() - 1);
  const int points = std::min<int>(kPointsPerTensor, int(x.size()));
  int reported = 0;
  for (int k = 0; k < points; k++) {
    const std::size_t i = x.size() <= std::size_t(kPointsPerTensor) ? std::size_t(k) : pick(rng);
    const float x0 = x[i];
    const float xp = float(x0 + kStep), xm = float(x0 - kStep);
    x[i] = xp;
    const double lp = loss();
    x[i] = xm;
    const double lm = loss();
    x[i] = x0;
    const double fd = (lp - lm) / (double(xp) - double(xm));
    const double err = std::fabs(fd - analytic[i]);
    if (!(err <= kRelTol * (std::fabs(analytic[i]) + scale)) && reported++ < 5) {  // NaN fails
      BOOST_ERROR(what << "[" << i << "]: analytic " << analytic[i] << ", finite difference " << fd);
    }
  }
}
}  // namespace

BOOST_AUTO_TEST_CASE(encoder_backward_matches_differences) {
  std::mt19937 rng(1);
  const int vocab = 11;
  auto tokens = random_tokens(N, vocab, rng);
  auto wte = random_floats(std::size_t(vocab) * C, rng), wpe = random_floats(std::size_t(T) * C, rng);
  auto w = random_floats(std::size_t(N) * C, rng);
  std::vector<float> out(w.size()), dwte(wte.size(), 0.0f), dwpe(wpe.size(), 0.0f);
  ref::encoder_backward(dwte.data(), dwpe.data(), w.data(), tokens.data(), B, T, C);
  auto loss = [&] {
    ref::encoder_forward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
    return weighted_sum(out, w);
  };
  gradcheck(wte, dwte, loss, "encoder dwte", 2);
  gradcheck(wpe, dwpe, loss, "encoder dwpe", 3);
}

BOOST_AUTO_TEST_CASE(layernorm_backward_matches_differences) {
  std::mt19937 rng(4);
  auto inp = random_floats(std::size_t(N) * C, rng, -2.0f, 3.0f);
  auto weight = random_floats(C, rng, 0.5f, 1.5f), bias = random_floats(C, rng);
  auto w = random_floats(inp.size(), rng);
  std::vector<float> out(inp.size()), mean(N), rstd(N);
  ref::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N, C);
  std::vector<float> dinp(inp.size(), 0.0f), dweight(C, 0.0f), dbias(C, 0.0f);
  ref::layernorm_backward(dinp.data(), dweight.data(), dbias.data(), w.data(), inp.data(), weight.data(),
                          mean.data(), rstd.data(), N, C);
  auto loss = [&] {
    ref::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(),
                           N, C);
    return weighted_sum(out, w);
  };
  gradcheck(inp, dinp, loss, "layernorm dinp", 5);
  gradcheck(weight, dweight, loss, "layernorm dweight", 6);
  gradcheck(bias, dbias, loss, "layernorm dbias", 7);
}

BOOST_AUTO_TEST_CASE(matmul_backward_matches_differences) {
  std::mt19937 rng(8);
  auto inp = random_floats(std::size_t(N) * C, rng), weight = random_floats(std::size_t(OC) * C, rng);
  auto bias = random_floats(OC, rng), w = random_floats(std::size_t(N) * OC, rng);
  std::vector<float> out(w.size());
  std::vector<float> dinp(inp.size(), 0.0f), dweight(weight.size(), 0.0f), dbias(OC, 0.0f);
  ref::matmul_backward(dinp.data(), dweight.data(), dbias.data(), w.data(), inp.data(), weight.data(),
                       N, C, OC);
  auto loss = [&] {
    ref::matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
    return weighted_sum(out, w);
  };
  gradcheck(inp, dinp, loss, "matmul dinp", 9);
  gradcheck(weight, dweight, loss, "matmul dweight", 10);
  gradcheck(bias, dbias, loss, "matmul dbias", 11);
}

BOOST_AUTO_TEST_CASE(gelu_backward_matches_differences) {
  std::mt19937 rng(12);
  const std::size_t n = 211;
  auto inp = random_floats(n, rng, -4.0f, 4.0f), w = random_floats(n, rng);
  std::vector<float> out(n), dinp(n, 0.0f);
  ref::gelu_backward(dinp.data(), inp.data(), w.data(), n);
  auto loss = [&] {
    ref::gelu_forward(out.data(), inp.data(), n);
    return weighted_sum(out, w);
  };
  gradcheck(inp, dinp, loss, "gelu dinp", 13);
}

BOOST_AUTO_TEST_CASE(attention_backward_matches_differences) {
  std::mt19937 rng(14);
  auto qkv = random_floats(std::size_t(N) * 3 * C, rng, -1.5f, 1.5f);
  auto w = random_floats(std::size_t(N) * C, rng);
  std::vector<float> out(w.size()), lse(std::size_t(B) * NH * T);
  ref::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH);
  std::vector<float> dqkv(qkv.size(), 0.0f);
  ref::attention_backward(dqkv.data(), w.data(), qkv.data(), out.data(), lse.data(), B, T, C, NH);
  auto loss = [&] {
    ref::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, NH);
    return weighted_sum(out, w);
  };
  gradcheck(qkv, dqkv, loss, "attention dqkv", 15);
  // The random picks above mix q, k and v; make sure each part is hit on its own too.
  for (int part = 0; part < 3; part++) {
    std::vector<float> slice_grad(dqkv.size(), 0.0f);
    for (int bt = 0; bt < N; bt++) {
      for (int c = 0; c < C; c++) {
        const std::size_t at = std::size_t(bt) * 3 * C + std::size_t(part) * C + c;
        slice_grad[at] = dqkv[at];
      }
    }
    require_nonzero(slice_grad, "attention dqkv part " + std::to_string(part));
  }
}

BOOST_AUTO_TEST_CASE(crossentropy_backward_matches_differences) {
  std::mt19937 rng(16);
  auto logits = random_floats(std::size_t(N) * V, rng, -3.0f, 3.0f);
  auto targets = random_tokens(N, V, rng);
  const float dloss = 1.7f;  // the loss fed back is dloss * mean loss
  std::vector<float> losses(N), lse(N), dlogits(logits.size());
  ref::crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V);
  ref::crossentropy_backward(dlogits.data(), logits.data(), lse.data(), targets.data(), dloss, N, V);
  // Sum the per-row losses in double rather than use the returned fp32 mean: rows the step
  // does not touch then cancel exactly between the two sides of the difference.
  auto loss = [&] {
    ref::crossentropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V);
    double sum = 0.0;
    for (float l : losses) sum += l;
    return double(dloss) * sum / N;
  };
  gradcheck(logits, dlogits, loss, "crossentropy dlogits", 17);
  // Rows of (softmax - onehot) sum to zero; a cheap exact property of the whole tensor.
  for (int i = 0; i < N; i++) {
    double row = 0.0;
    for (int j = 0; j < V; j++) row += dlogits[std::size_t(i) * V + j];
    BOOST_TEST(std::fabs(row) < 8 * kEps32 * V * dloss / N);
  }
}
