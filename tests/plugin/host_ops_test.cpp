// The op table (llmrt_host_api.ops) on the CPU: every op family against kernels/ref or a plain
// double-precision loop on odd sizes and non-zero data, backward ops also against central
// differences of the plain forward, and the statuses of bad arguments (op named, exit code
// class right: INVALID_ARGUMENT for a malformed call, UNIMPLEMENTED for a missing kernel).
#define BOOST_TEST_MODULE plugin_host_ops
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <llmrt/half.hpp>

#include "plugin/host_api.h"
#include "ref/kernels_ref.h"

namespace {
namespace ref = llmrt::kernels::ref;
using Vec = std::vector<float>;

const llmrt_host_api& host() { return *llmrt::plugin_host_api(); }
const llmrt_ops& ops() { return *host().ops; }

llmrt_call_ctx cpu_ctx(std::int32_t device = LLMRT_DEVICE_CPU) {
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {device, 0};
  ctx.tp_size = 1;
  return ctx;
}

Vec random_values(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  Vec values(n);
  for (float& v : values) v = normal(rng);
  return values;
}

// Max |a - b| over max(1, max |b|): a tolerance in units of the data's scale.
double max_error(const Vec& a, const std::vector<double>& b) {
  BOOST_REQUIRE(a.size() == b.size());
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < a.size(); ++i) err = std::max(err, std::abs(a[i] - b[i])), scale = std::max(scale, std::abs(b[i]));
  return err / scale;
}
std::vector<double> wide(const Vec& v) { return {v.begin(), v.end()}; }

// The status of a call: OK, or (code, message) with the status freed.
struct Outcome {
  std::int32_t code;
  std::string message;
};
Outcome outcome(llmrt_status* status) {
  if (status == nullptr) return {LLMRT_OK, ""};
  Outcome o{host().status_code(status), host().status_message(status)};
  host().status_free(status);
  return o;
}
void expect_ok(llmrt_status* status) {
  const Outcome o = outcome(status);
  BOOST_TEST(o.code == LLMRT_OK, o.message);
}

// Central differences of sum(g * f(x)) in double: the gradient at x, for a backward check.
std::vector<double> numeric_grad(const std::function<std::vector<double>(const std::vector<double>&)>& f,
                                 const Vec& x, const Vec& g) {
  std::vector<double> xd(x.begin(), x.end()), grad(x.size());
  const double h = 1e-5;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double keep = xd[i];
    xd[i] = keep + h;
    const auto up = f(xd);
    xd[i] = keep - h;
    const auto down = f(xd);
    xd[i] = keep;
    double d = 0;
    for (std::size_t j = 0; j < g.size(); ++j) d += g[j] * (up[j] - down[j]);
    grad[i] = d / (2 * h);
  }
  return grad;
}

BOOST_AUTO_TEST_CASE(the_host_table_has_every_slot) {
  BOOST_REQUIRE(LLMRT_HAS_FIELD(&host(), llmrt_host_api, ops));
  BOOST_REQUIRE(host().ops != nullptr);
  BOOST_TEST(ops().struct_size == sizeof(llmrt_ops));
  const auto* slots = reinterpret_cast<const void* const*>(reinterpret_cast<const char*>(&ops()) + sizeof(size_t));
  for (std::size_t i = 0; i < (sizeof(llmrt_ops) - sizeof(size_t)) / sizeof(void*); ++i) BOOST_TEST(slots[i] != nullptr, "slot " << i);
}

BOOST_AUTO_TEST_CASE(gemm_strided_batched_every_transpose) {
  const int m = 7, n = 5, k = 3, batch = 3;
  const llmrt_call_ctx ctx = cpu_ctx();
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      const int lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;  // padded rows
      const long sa = long(lda) * (ta ? k : m) + 4, sb = long(ldb) * (tb ? n : k), sc = long(ldc) * m + 1;
      Vec a = random_values(sa * batch, 1), b = random_values(sb * batch, 2), c = random_values(sc * batch, 3);
      std::vector<double> want(c.begin(), c.end());
      for (int i = 0; i < batch; ++i) {
        for (int r = 0; r < m; ++r) {
          for (int col = 0; col < n; ++col) {
            double sum = 0;
            for (int q = 0; q < k; ++q) {
              const double av = ta ? a[i * sa + q * lda + r] : a[i * sa + r * lda + q];
              const double bv = tb ? b[i * sb + col * ldb + q] : b[i * sb + q * ldb + col];
              sum += av * bv;
            }
            double& out = want[i * sc + r * ldc + col];
            out = 0.5 * sum + 2.0 * out;
          }
        }
      }
      llmrt_gemm_args args{sizeof(llmrt_gemm_args), ta, tb, m, n, k, 0.5f, 2.0f, a.data(), lda, sa, b.data(), ldb, sb,
                           c.data(), ldc, sc, batch, LLMRT_DTYPE_F32, LLMRT_DTYPE_F32};
      expect_ok(ops().gemm(&ctx, &args));
      BOOST_TEST(max_error(c, want) < 1e-5, "trans " << ta << tb);
    }
  }
}

BOOST_AUTO_TEST_CASE(linear_is_the_reference_matmul) {
  const int n = 9, c = 7, oc = 11;
  const llmrt_call_ctx ctx = cpu_ctx();
  Vec in = random_values(n * c, 1), w = random_values(oc * c, 2), bias = random_values(oc, 3), dout = random_values(n * oc, 4);
  Vec out(n * oc), din = random_values(n * c, 5), dw = random_values(oc * c, 6), db = random_values(oc, 7);
  Vec r_out(n * oc), r_din = din, r_dw = dw, r_db = db;
  llmrt_linear_args a{};
  a.struct_size = sizeof(a), a.dtype = LLMRT_DTYPE_F32, a.rows = n, a.in_features = c, a.out_features = oc;
  a.in = in.data(), a.weight = w.data(), a.bias = bias.data(), a.out = out.data();
  a.d_out = dout.data(), a.d_in = din.data(), a.d_weight = dw.data(), a.d_bias = db.data();
  expect_ok(ops().linear_forward(&ctx, &a));
  expect_ok(ops().linear_backward_input(&ctx, &a));
  expect_ok(ops().linear_backward_weight(&ctx, &a));
  ref::matmul_forward(r_out.data(), in.data(), w.data(), bias.data(), n, c, oc);
  ref::matmul_backward(r_din.data(), r_dw.data(), r_db.data(), dout.data(), in.data(), w.data(), n, c, oc);
  BOOST_TEST(max_error(out, wide(r_out)) < 1e-5);
  BOOST_TEST(max_error(din, wide(r_din)) < 1e-5);
  BOOST_TEST(max_error(dw, wide(r_dw)) < 1e-5);
  BOOST_TEST(max_error(db, wide(r_db)) < 1e-5);
}

BOOST_AUTO_TEST_CASE(attention_is_the_reference_attention) {
  const int b = 2, t = 7, c = 12, nh = 3;
  const llmrt_call_ctx ctx = cpu_ctx();
  Vec qkv = random_values(b * t * 3 * c, 1), dout = random_values(b * t * c, 2);
  Vec out(b * t * c), lse(b * nh * t), dqkv = random_values(qkv.size(), 3);
  Vec r_out = out, r_lse = lse, r_dqkv = dqkv;
  llmrt_attention_args a{sizeof(a), LLMRT_DTYPE_F32, 0, b, t, c, nh, qkv.data(), out.data(), lse.data(), dout.data(), dqkv.data()};
  expect_ok(ops().attention_forward(&ctx, &a));
  expect_ok(ops().attention_backward(&ctx, &a));
  ref::attention_forward(r_out.data(), r_lse.data(), qkv.data(), b, t, c, nh);
  ref::attention_backward(r_dqkv.data(), dout.data(), qkv.data(), r_out.data(), r_lse.data(), b, t, c, nh);
  BOOST_TEST(max_error(out, wide(r_out)) < 1e-5);
  BOOST_TEST(max_error(lse, wide(r_lse)) < 1e-5);
  BOOST_TEST(max_error(dqkv, wide(r_dqkv)) < 1e-4);
}

BOOST_AUTO_TEST_CASE(layernorm_is_the_reference_and_apply_repeats_forward) {
  const int n = 5, c = 19;
  const llmrt_call_ctx ctx = cpu_ctx();
  Vec in = random_values(n * c, 1), w = random_values(c, 2), bias = random_values(c, 3), dout = random_values(n * c, 4);
  Vec out(n * c), again(n * c), mean(n), rstd(n), din = random_values(n * c, 5), dw = random_values(c, 6), db = random_values(c, 7);
  Vec r_out(n * c), r_mean(n), r_rstd(n), r_din = din, r_dw = dw, r_db = db;
  llmrt_norm_args a{sizeof(a), LLMRT_DTYPE_F32, 0.0f, n, c, in.data(), w.data(), bias.data(), out.data(), mean.data(),
                    rstd.data(), dout.data(), din.data(), dw.data(), db.data()};
  expect_ok(ops().layernorm_forward(&ctx, &a));
  expect_ok(ops().layernorm_backward(&ctx, &a));
  a.out = again.data();
  expect_ok(ops().layernorm_apply(&ctx, &a));
  BOOST_TEST(std::memcmp(out.data(), again.data(), out.size() * sizeof(float)) == 0);
  ref::layernorm_forward(r_out.data(), r_mean.data(), r_rstd.data(), in.data(), w.data(), bias.data(), n, c);
  ref::layernorm_backward(r_din.data(), r_dw.data(), r_db.data(), dout.data(), in.data(), w.data(), r_mean.data(),
                          r_rstd.data(), n, c);
  BOOST_TEST(max_error(out, wide(r_out)) < 1e-5);
  BOOST_TEST(max_error(rstd, wide(r_rstd)) < 1e-5);
  BOOST_TEST(max_error(din, wide(r_din)) < 1e-4);
  BOOST_TEST(max_error(dw, wide(r_dw)) < 1e-5);
  BOOST_TEST(max_error(db, wide(r_db)) < 1e-5);
}

// y = x * rstd * w per row of (n, c), in double.
std::vector<double> rmsnorm_loop(const std::vector<double>& x, const std::vector<double>& w, int n, int c, double eps) {
  std::vector<double> y(x.size());
  for (int i = 0; i < n; ++i) {
    double sq = 0;
    for (int j = 0; j < c; ++j) sq += x[i * c + j] * x[i * c + j];
    const double r = 1 / std::sqrt(sq / c + eps);
    for (int j = 0; j < c; ++j) y[i * c + j] = x[i * c + j] * r * w[j];
  }
  return y;
}

BOOST_AUTO_TEST_CASE(rmsnorm_against_a_loop_and_central_differences) {
  const int n = 4, c = 13;
  const llmrt_call_ctx ctx = cpu_ctx();
  Vec in = random_values(n * c, 1), w = random_values(c, 2), dout = random_values(n * c, 3);
  Vec out(n * c), rstd(n), din(n * c, 0.0f), dw(c, 0.0f);
  llmrt_norm_args a{};
  a.struct_size = sizeof(a), a.dtype = LLMRT_DTYPE_F32, a.eps = 1e-6f, a.rows = n, a.channels = c;
  a.in = in.data(), a.weight = w.data(), a.out = out.data(), a.rstd = rstd.data();
  a.d_out = dout.data(), a.d_in = din.data(), a.d_weight = dw.data();
  expect_ok(ops().rmsnorm_forward(&ctx, &a));
  expect_ok(ops().rmsnorm_backward(&ctx, &a));
  BOOST_TEST(max_error(out, rmsnorm_loop(wide(in), wide(w), n, c, 1e-6)) < 1e-5);
  const auto fx = [&](const std::vector<double>& x) { return rmsnorm_loop(x, wide(w), n, c, 1e-6); };
  BOOST_TEST(max_error(din, numeric_grad(fx, in, dout)) < 1e-4);
  const auto fw = [&](const std::vector<double>& wv) { return rmsnorm_loop(wide(in), wv, n, c, 1e-6); };
  BOOST_TEST(max_error(dw, numeric_grad(fw, w, dout)) < 1e-4);
}

std::vector<double> softmax_loop(const std::vector<double>& x, int n, int c) {
  std::vector<double> y(x.size());
  for (int i = 0; i < n; ++i) {
    double mx = -1e300, sum = 0;
    for (int j = 0; j < c; ++j) mx = std::max(mx, x[i * c + j]);
    for (int j = 0; j < c; ++j) sum += std::exp(x[i * c + j] - mx);
    for (int j = 0; j < c; ++j) y[i * c + j] = std::exp(x[i * c + j] - mx) / sum;
  }
  return y;
}

BOOST_AUTO_TEST_CASE(softmax_against_a_loop_and_central_differences) {
  const int n = 3, c = 17;
  const llmrt_call_ctx ctx = cpu_ctx();
  Vec in = random_values(n * c, 1, 2.0f), dout = random_values(n * c, 2), out(n * c), din(n * c, 0.0f);
  llmrt_softmax_args a{sizeof(a), LLMRT_DTYPE_F32, 0, n, c, in.data(), out.data(), dout.data(), din.data()};
  expect_ok(ops().softmax_forward(&ctx, &a));
  expect_ok(ops().softmax_backward(&ctx, &a));
  BOOST_TEST(max_error(out, softmax_loop(wide(in), n, c)) < 1e-6);
  BOOST_TEST(max_error(din, numeric_grad([&](const std::vector<double>& x) { return softmax_loop(x, n, c); }, in, dout)) < 1e-5);
}

BOOST_AUTO_TEST_CASE(gelu_is_the_reference_and_silu_a_loop) {
  const std::size_t n = 37;
  const llmrt_call_ctx ctx = cpu_ctx();
  Vec in = random_values(n, 1, 2.0f), dout = random_values(n, 2), out(n), din = random_values(n, 3);
  Vec r_out(n), r_din = din;
  llmrt_activation_args a{sizeof(a), LLMRT_DTYPE_F32, LLMRT_ACT_GELU, std::int64_t(n), in.data(), out.data(), dout.data(), din.data()};
  expect_ok(ops().activation_forward(&ctx, &a));
  expect_ok(ops().activation_backward(&ctx, &a));
  ref::gelu_forward(r_out.data(), in.data(), n);
  ref::gelu_backward(r_din.data(), in.data(), dout.data(), n);
  BOOST_TEST(max_error(out, wide(r_out)) < 1e-5);
  BOOST_TEST(max_error(din, wide(r_din)) < 1e-5);

  const auto silu = [](const std::vector<double>& x) {
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] / (1 + std::exp(-x[i]));
    return y;
  };
  std::fill(din.begin(), din.end(), 0.0f);
  a.kind = LLMRT_ACT_SILU;
  expect_ok(ops().activation_forward(&ctx, &a));
  expect_ok(ops().activation_backward(&ctx, &a));
  BOOST_TEST(max_error(out, silu(wide(in))) < 1e-6);
  BOOST_TEST(max_error(din, numeric_grad(silu, in, dout)) < 1e-5);
}

BOOST_AUTO_TEST_CASE(elementwise_every_kind) {
  const int rows = 3, cols = 7, n = rows * cols;
  const llmrt_call_ctx ctx = cpu_ctx();
  const Vec x = random_values(n, 1), y = random_values(n, 2), bias = random_values(cols, 3), start = random_values(n, 4);
  const auto run = [&](std::int32_t kind, const float* b, const float* bias_ptr) {
    Vec out = start;
    llmrt_elementwise_args a{sizeof(a), LLMRT_DTYPE_F32, kind, n, cols, 0.25f, 0, x.data(), b, bias_ptr, out.data()};
    expect_ok(ops().elementwise(&ctx, &a));
    return out;
  };
  const Vec add = run(LLMRT_EW_ADD, y.data(), nullptr), acc = run(LLMRT_EW_ACCUMULATE, nullptr, nullptr),
            mul = run(LLMRT_EW_MUL, y.data(), nullptr), mul_acc = run(LLMRT_EW_MUL_ACCUMULATE, y.data(), nullptr),
            scale = run(LLMRT_EW_SCALE, nullptr, nullptr), add_bias = run(LLMRT_EW_ADD_BIAS, nullptr, bias.data());
  for (int i = 0; i < n; ++i) {
    BOOST_TEST(add[i] == x[i] + y[i]);
    BOOST_TEST(acc[i] == start[i] + x[i]);
    BOOST_TEST(mul[i] == x[i] * y[i]);
    BOOST_TEST(std::abs(mul_acc[i] - (start[i] + x[i] * y[i])) < 1e-6);
    BOOST_TEST(scale[i] == 0.25f * x[i]);
    BOOST_TEST(add_bias[i] == start[i] + (x[i] + bias[i % cols]));
  }
}

BOOST_AUTO_TEST_CASE(reductions_against_loops) {
  const int rows = 9, cols = 5;
  const llmrt_call_ctx ctx = cpu_ctx();
  const Vec in = random_values(rows * cols, 1);
  Vec out = random_values(cols, 2);
  std::vector<double> want(out.begin(), out.end());
  double sum = 0, squares = 0;
  for (int i = 0; i < rows * cols; ++i) want[i % cols] += in[i], sum += in[i], squares += double(in[i]) * in[i];
  double scalar = 0;
  llmrt_reduce_args a{sizeof(a), LLMRT_DTYPE_F32, LLMRT_SUM_ROWS, rows, cols, in.data(), out.data(), &scalar};
  expect_ok(ops().reduce(&ctx, &a));
  BOOST_TEST(max_error(out, want) < 1e-6);
  a.kind = LLMRT_SUM_ALL;
  expect_ok(ops().reduce(&ctx, &a));
  BOOST_TEST(std::abs(scalar - sum) < 1e-9);
  a.kind = LLMRT_SUM_SQUARES;
  expect_ok(ops().reduce(&ctx, &a));
  BOOST_TEST(std::abs(scalar - squares) < 1e-9);
}

BOOST_AUTO_TEST_CASE(cast_rounds_like_half_hpp) {
  const llmrt_call_ctx ctx = cpu_ctx();
  const Vec in = random_values(5000, 1, 100.0f);  // over one 4096 chunk of the 16-to-16 path
  std::vector<std::uint16_t> bf(in.size()), f16(in.size());
  Vec back(in.size());
  llmrt_cast_args a{sizeof(a), LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, std::int64_t(in.size()), in.data(), bf.data()};
  expect_ok(ops().cast(&ctx, &a));
  a = {sizeof(a), LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16, std::int64_t(in.size()), bf.data(), f16.data()};
  expect_ok(ops().cast(&ctx, &a));
  a = {sizeof(a), LLMRT_DTYPE_F16, LLMRT_DTYPE_F32, std::int64_t(in.size()), f16.data(), back.data()};
  expect_ok(ops().cast(&ctx, &a));
  for (std::size_t i = 0; i < in.size(); ++i) {
    BOOST_TEST(bf[i] == llmrt::bf16_from_float(in[i]));
    BOOST_TEST(f16[i] == llmrt::f16_from_float(llmrt::float_from_bf16(bf[i])));
    BOOST_TEST(back[i] == llmrt::float_from_f16(f16[i]));
  }
}

BOOST_AUTO_TEST_CASE(random_is_counter_based_and_has_its_moments) {
  const llmrt_call_ctx ctx = cpu_ctx();
  const std::size_t n = 200000;
  Vec all(n), tail(n - 100);
  llmrt_random_args a{sizeof(a), LLMRT_DTYPE_F32, LLMRT_RANDOM_NORMAL, std::int64_t(n), 42, 1000, 0.5, 2.0, all.data()};
  expect_ok(ops().random(&ctx, &a));
  a.count = std::int64_t(tail.size()), a.offset = 1100, a.out = tail.data();
  expect_ok(ops().random(&ctx, &a));
  BOOST_TEST(std::memcmp(all.data() + 100, tail.data(), tail.size() * sizeof(float)) == 0);  // element i = f(seed, offset + i)
  double mean = 0, var = 0;
  for (float v : all) mean += v;
  mean /= double(n);
  for (float v : all) var += (v - mean) * (v - mean);
  BOOST_TEST(std::abs(mean - 0.5) < 0.02);  // 5 standard errors of the mean (2 / sqrt(n))
  BOOST_TEST(std::abs(std::sqrt(var / double(n)) - 2.0) < 0.02);
  a = {sizeof(a), LLMRT_DTYPE_F32, LLMRT_RANDOM_UNIFORM, std::int64_t(n), 7, 0, -3.0, 1.0, all.data()};
  expect_ok(ops().random(&ctx, &a));
  mean = 0;
  for (float v : all) {
    BOOST_TEST_REQUIRE((v >= -3.0f && v <= 1.0f));
    mean += v;
  }
  BOOST_TEST(std::abs(mean / double(n) + 1.0) < 0.02);
}

BOOST_AUTO_TEST_CASE(embedding_and_cross_entropy_are_the_reference) {
  const int b = 2, t = 5, c = 6, v = 11;
  const llmrt_call_ctx ctx = cpu_ctx();
  const std::vector<std::int32_t> tokens = {3, 0, 10, 3, 7, 1, 1, 9, 4, 2};
  Vec table = random_values(v * c, 1), pos = random_values(t * c, 2), dout = random_values(b * t * c, 3);
  Vec out(b * t * c), dtable(v * c, 0.0f), dpos(t * c, 0.0f), r_out = out, r_dtable = dtable, r_dpos = dpos;
  llmrt_embedding_args e{sizeof(e), LLMRT_DTYPE_F32, 0, b, t, c, v, tokens.data(), table.data(), pos.data(), out.data(),
                         dout.data(), dtable.data(), dpos.data()};
  expect_ok(ops().embedding_forward(&ctx, &e));
  expect_ok(ops().embedding_backward(&ctx, &e));
  ref::encoder_forward(r_out.data(), tokens.data(), table.data(), pos.data(), b, t, c);
  ref::encoder_backward(r_dtable.data(), r_dpos.data(), dout.data(), tokens.data(), b, t, c);
  BOOST_TEST(max_error(out, wide(r_out)) == 0.0);
  BOOST_TEST(max_error(dtable, wide(r_dtable)) < 1e-6);
  BOOST_TEST(max_error(dpos, wide(r_dpos)) < 1e-6);
  e.positions = nullptr;  // a plain gather
  expect_ok(ops().embedding_forward(&ctx, &e));
  for (int i = 0; i < b * t * c; ++i) BOOST_TEST(out[i] == table[tokens[i / c] * c + i % c]);

  const int n = b * t;
  Vec logits = random_values(n * v, 4, 2.0f), losses(n), lse(n), dlogits(n * v), r_losses(n), r_lse(n), r_dlogits(n * v);
  float mean = 0;
  llmrt_cross_entropy_args x{sizeof(x), LLMRT_DTYPE_F32, 0.5f, n, v, logits.data(), tokens.data(), losses.data(),
                             lse.data(), &mean, dlogits.data(), 0};
  expect_ok(ops().cross_entropy_forward(&ctx, &x));
  expect_ok(ops().cross_entropy_backward(&ctx, &x));
  const float r_mean = ref::crossentropy_forward(r_losses.data(), r_lse.data(), logits.data(), tokens.data(), n, v);
  ref::crossentropy_backward(r_dlogits.data(), logits.data(), r_lse.data(), tokens.data(), 0.5f, n, v);
  BOOST_TEST(std::abs(mean - r_mean) < 1e-5);
  BOOST_TEST(max_error(losses, wide(r_losses)) < 1e-5);
  BOOST_TEST(max_error(dlogits, wide(r_dlogits)) < 1e-6);

  // padded_vocab: the same rows at a stride of 16, the padded columns ignored and given no gradient.
  const int vp = 16;
  Vec padded(n * vp, 9.0f), d_padded(n * vp, -1.0f), p_losses(n), p_lse(n);
  for (int i = 0; i < n; ++i) std::copy_n(logits.data() + i * v, v, padded.data() + i * vp);
  float p_mean = 0;
  llmrt_cross_entropy_args p{sizeof(p), LLMRT_DTYPE_F32, 0.5f, n, v, padded.data(), tokens.data(), p_losses.data(),
                             p_lse.data(), &p_mean, d_padded.data(), vp};
  expect_ok(ops().cross_entropy_forward(&ctx, &p));
  expect_ok(ops().cross_entropy_backward(&ctx, &p));
  BOOST_TEST(p_mean == mean);
  BOOST_TEST(max_error(p_losses, wide(losses)) == 0.0);
  for (int i = 0; i < n * vp; ++i) {
    BOOST_TEST(d_padded[i] == (i % vp < v ? dlogits[i / vp * v + i % vp] : 0.0f), "d_logits[" << i << "]");
  }

  // A caller built before padded_vocab was appended (struct_size without it) gets today's meaning.
  Vec old_losses(n);
  llmrt_cross_entropy_args old = x;
  old.struct_size = offsetof(llmrt_cross_entropy_args, padded_vocab);
  old.padded_vocab = 77;  // past the caller's struct: never read
  old.losses = old_losses.data();
  expect_ok(ops().cross_entropy_forward(&ctx, &old));
  BOOST_TEST(max_error(old_losses, wide(losses)) == 0.0);
}

// Bad arguments: a status naming the op and what is wrong, never a crash.
BOOST_AUTO_TEST_CASE(bad_arguments_are_named) {
  const llmrt_call_ctx ctx = cpu_ctx();
  Vec buf(64);
  llmrt_linear_args lin{};
  lin.struct_size = sizeof(lin), lin.dtype = LLMRT_DTYPE_F32, lin.rows = 2, lin.in_features = 2, lin.out_features = 2;
  lin.in = buf.data(), lin.weight = buf.data(), lin.out = buf.data() + 8;
  const auto expect = [](llmrt_status* status, std::int32_t code, const std::string& text) {
    const Outcome o = outcome(status);
    BOOST_TEST(o.code == code, o.message);
    BOOST_TEST(o.message.find(text) != std::string::npos, o.message << " lacks " << text);
  };
  expect(ops().linear_forward(nullptr, &lin), LLMRT_INVALID_ARGUMENT, "ops.linear_forward: ctx is NULL");
  expect(ops().linear_forward(&ctx, nullptr), LLMRT_INVALID_ARGUMENT, "args is NULL");
  llmrt_linear_args small = lin;
  small.struct_size = 8;
  expect(ops().linear_forward(&ctx, &small), LLMRT_INVALID_ARGUMENT, "args.struct_size = 8");
  llmrt_linear_args negative = lin;
  negative.rows = -1;
  expect(ops().linear_forward(&ctx, &negative), LLMRT_INVALID_ARGUMENT, "rows = -1");
  llmrt_linear_args no_weight = lin;
  no_weight.weight = nullptr;
  expect(ops().linear_forward(&ctx, &no_weight), LLMRT_INVALID_ARGUMENT, "weight is NULL");
  llmrt_linear_args bf16 = lin;
  bf16.dtype = LLMRT_DTYPE_BF16;
  expect(ops().linear_forward(&ctx, &bf16), LLMRT_UNIMPLEMENTED, "ops.linear_forward: dtype bf16 on cpu");
  const llmrt_call_ctx unknown = cpu_ctx(9);
  expect(ops().linear_forward(&unknown, &lin), LLMRT_UNIMPLEMENTED, "device type 9");
  // A CUDA ctx for a dtype no CUDA kernel takes (whatever the build: without CUDA the device is
  // refused, with it the dtype): refused before any device call.
  const llmrt_call_ctx cuda = cpu_ctx(LLMRT_DEVICE_CUDA);
  llmrt_gemm_args cuda_gemm{sizeof(cuda_gemm), 0, 0, 2, 2, 2, 1.0f, 0.0f, buf.data(), 2, 0, buf.data(), 2, 0,
                            buf.data(), 2, 0, 1, LLMRT_DTYPE_I32, LLMRT_DTYPE_F32};
  expect(ops().gemm(&cuda, &cuda_gemm), LLMRT_UNIMPLEMENTED, "ops.gemm: device cuda");

  llmrt_attention_args att{sizeof(att), LLMRT_DTYPE_F32, 0, 1, 2, 6, 4, buf.data(), buf.data(), buf.data(), nullptr, nullptr};
  expect(ops().attention_forward(&ctx, &att), LLMRT_INVALID_ARGUMENT, "heads = 4 does not divide channels = 6");
  llmrt_activation_args act{sizeof(act), LLMRT_DTYPE_F32, 7, 4, buf.data(), buf.data(), nullptr, nullptr};
  expect(ops().activation_forward(&ctx, &act), LLMRT_INVALID_ARGUMENT, "kind = 7");
  llmrt_elementwise_args ew{sizeof(ew), LLMRT_DTYPE_F32, LLMRT_EW_ADD_BIAS, 10, 3, 1.0f, 0, nullptr, nullptr, buf.data(), buf.data()};
  expect(ops().elementwise(&ctx, &ew), LLMRT_INVALID_ARGUMENT, "cols = 3 does not divide count = 10");
  llmrt_norm_args ln{sizeof(ln), LLMRT_DTYPE_F32, 1e-3f, 2, 4, buf.data(), buf.data(), buf.data(), buf.data(), buf.data(),
                     buf.data(), nullptr, nullptr, nullptr, nullptr};
  expect(ops().layernorm_forward(&ctx, &ln), LLMRT_UNIMPLEMENTED, "the kernel has 1e-5 only");
  const std::int32_t bad_tokens[2] = {1, 5};
  llmrt_embedding_args emb{sizeof(emb), LLMRT_DTYPE_F32, 0, 1, 2, 2, 5, bad_tokens, buf.data(), nullptr, buf.data(),
                           nullptr, nullptr, nullptr};
  expect(ops().embedding_forward(&ctx, &emb), LLMRT_INVALID_ARGUMENT, "tokens[1] = 5 is not in [0, vocab = 5)");
  llmrt_cast_args cast{sizeof(cast), LLMRT_DTYPE_I32, LLMRT_DTYPE_F32, 1, buf.data(), buf.data()};
  expect(ops().cast(&ctx, &cast), LLMRT_UNIMPLEMENTED, "dtype i32");
  llmrt_random_args rnd{sizeof(rnd), LLMRT_DTYPE_F32, LLMRT_RANDOM_UNIFORM, 4, 1, 0, 1.0, 0.0, buf.data()};
  expect(ops().random(&ctx, &rnd), LLMRT_INVALID_ARGUMENT, "a > b");
  llmrt_gemm_args gemm{sizeof(gemm), 0, 0, 2, 2, 2, 1.0f, 0.0f, buf.data(), 1, 0, buf.data(), 2, 0, buf.data(), 2, 0, 1,
                       LLMRT_DTYPE_F32, LLMRT_DTYPE_F32};
  expect(ops().gemm(&ctx, &gemm), LLMRT_INVALID_ARGUMENT, "lda = 1 < 2");
  // Each dimension fits an int but their product wraps int64 (to 0 here): refused, never indexed.
  llmrt_attention_args huge{sizeof(huge), LLMRT_DTYPE_F32, 0, std::int64_t(1) << 22, std::int64_t(1) << 22,
                            std::int64_t(1) << 20, 1, buf.data(), buf.data(), buf.data(), nullptr, nullptr};
  expect(ops().attention_forward(&ctx, &huge), LLMRT_INVALID_ARGUMENT, "batch * seq * 3 * channels overflows");
  // The backward writes d_logits at each target: one outside the vocabulary is named, not written.
  const std::int32_t bad_targets[2] = {0, 4};
  llmrt_cross_entropy_args ce{};
  ce.struct_size = sizeof(ce), ce.dtype = LLMRT_DTYPE_F32, ce.d_loss = 1.0f, ce.rows = 2, ce.vocab = 4;
  ce.logits = buf.data(), ce.targets = bad_targets, ce.lse = buf.data() + 16, ce.d_logits = buf.data() + 32;
  expect(ops().cross_entropy_backward(&ctx, &ce), LLMRT_INVALID_ARGUMENT, "targets[1] = 4 is not in [0, vocab)");
  ce.targets = bad_targets + 1, ce.rows = 1, ce.vocab = 5, ce.padded_vocab = 3;  // a stride below the classes
  expect(ops().cross_entropy_backward(&ctx, &ce), LLMRT_INVALID_ARGUMENT, "padded_vocab = 3 is below vocab = 5");
  ce.padded_vocab = 0, ce.struct_size = offsetof(llmrt_cross_entropy_args, padded_vocab) - 1;  // older than any shipped
  expect(ops().cross_entropy_backward(&ctx, &ce), LLMRT_INVALID_ARGUMENT, "args.struct_size");
}

}  // namespace
