// Fast position-wise kernels: encoder, layernorm, GELU, residual, AdamW, and the thread knob.
// Rows go to OpenMP threads; inner loops are contiguous with restrict pointers so -O3 vectorises.
#include "cpu/fast_exp_cpu.h"
#include "cpu/kernels_cpu.h"
#include "cpu/threads_cpu.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

namespace llmrt::kernels::cpu {
namespace detail {
namespace {
std::atomic<int> g_threads{0};  // 0: not set yet, use OpenMP's default
}  // namespace

int team_size() {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
}
}  // namespace detail

using detail::kMinParallelElems;
using detail::team_size;

void set_cpu_threads(int n) {
  n = n < 1 ? 1 : n;
  detail::g_threads.store(n, std::memory_order_relaxed);
  openblas_set_num_threads(n);
}

int cpu_threads() { return team_size(); }

void encoder_forward(float* out, const std::int32_t* tokens, const float* wte, const float* wpe,
                     int B, int T, int C) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(B) * T * C > kMinParallelElems)
  for (int bt = 0; bt < B * T; bt++) {
    float* __restrict o = out + std::size_t(bt) * C;
    const float* __restrict tok_row = wte + std::size_t(tokens[bt]) * C;
    const float* __restrict pos_row = wpe + std::size_t(bt % T) * C;
    for (int c = 0; c < C; c++) o[c] = tok_row[c] + pos_row[c];
  }
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const std::int32_t* tokens,
                      int B, int T, int C) {
  // Tokens repeat, so rows of dwte collide across positions: split the channels instead, each
  // thread owning a column slice of dwte and dwpe for every (b, t).
  const int nth = C >= 64 ? team_size() : 1;
#pragma omp parallel num_threads(nth)
  {
    const detail::Range r =
        detail::split_range(std::size_t(C), omp_get_thread_num(), omp_get_num_threads());
    const std::size_t width = r.end - r.begin;
    for (int bt = 0; bt < B * T; bt++) {
      const float* __restrict dy = dout + std::size_t(bt) * C + r.begin;
      float* __restrict dtok = dwte + std::size_t(tokens[bt]) * C + r.begin;
      float* __restrict dpos = dwpe + std::size_t(bt % T) * C + r.begin;
      for (std::size_t c = 0; c < width; c++) {
        dtok[c] += dy[c];
        dpos[c] += dy[c];
      }
    }
  }
}

namespace {
// One normalised row. Not inlined, so layernorm_forward and layernorm_apply run the same code
// and give the same bits (a recompute must match what forward stored).
__attribute__((noinline)) void layernorm_row_out(float* __restrict y, const float* __restrict x, float mu, float rs,
                                                 const float* __restrict weight, const float* __restrict bias,
                                                 int C) {
  for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * rs * weight[c] + bias[c];
}
}  // namespace

void layernorm_apply(float* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                     const float* bias, int N, int C) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(N) * C > kMinParallelElems)
  for (int i = 0; i < N; i++) {
    layernorm_row_out(out + std::size_t(i) * C, inp + std::size_t(i) * C, mean[i], rstd[i], weight, bias, C);
  }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int N, int C) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(N) * C > kMinParallelElems)
  for (int i = 0; i < N; i++) {
    const float* __restrict x = inp + std::size_t(i) * C;
    float* __restrict y = out + std::size_t(i) * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < C; c++) sum += x[c];
    const float mu = sum / C;
    // Two passes (mean, then centred squares) rather than E[x^2] - mean^2, which cancels.
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu);
    const float rs = 1.0f / std::sqrt(var / C + 1e-5f);
    layernorm_row_out(y, x, mu, rs, weight, bias, C);
    mean[i] = mu;
    rstd[i] = rs;
  }
}

namespace {
// dinp for one row: (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) * rstd, dnorm = w * dy.
void layernorm_row_dinp(float* __restrict dx, const float* __restrict dy, const float* __restrict x,
                        const float* __restrict w, float mu, float rs, int C) {
  float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
  for (int c = 0; c < C; c++) {
    const float dnorm = w[c] * dy[c];
    dnorm_mean += dnorm;
    dnorm_norm_mean += dnorm * (x[c] - mu) * rs;
  }
  dnorm_mean /= C;
  dnorm_norm_mean /= C;
  for (int c = 0; c < C; c++) {
    const float norm = (x[c] - mu) * rs;
    dx[c] += (w[c] * dy[c] - dnorm_mean - norm * dnorm_norm_mean) * rs;
  }
}
}  // namespace

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd,
                        int N, int C) {
  // dweight/dbias sum over rows: each thread sums its rows into a private (2, C) buffer and the
  // buffers are added at the end, so threads never write the same float.
  const int nth = std::size_t(N) * C > kMinParallelElems ? team_size() : 1;
  const bool want_params = dweight != nullptr;
  std::vector<float> partial(want_params ? std::size_t(nth) * 2 * C : 0, 0.0f);
#pragma omp parallel num_threads(nth)
  {
    const int tid = omp_get_thread_num();
    const detail::Range r = detail::split_range(std::size_t(N), tid, omp_get_num_threads());
    float* __restrict pw = want_params ? partial.data() + std::size_t(tid) * 2 * C : nullptr;
    float* __restrict pb = want_params ? pw + C : nullptr;
    for (std::size_t i = r.begin; i < r.end; i++) {
      const float* __restrict x = inp + i * C;
      const float* __restrict dy = dout + i * C;
      if (dinp) layernorm_row_dinp(dinp + i * C, dy, x, weight, mean[i], rstd[i], C);
      if (!want_params) continue;
      for (int c = 0; c < C; c++) {
        pw[c] += (x[c] - mean[i]) * rstd[i] * dy[c];
        pb[c] += dy[c];
      }
    }
  }
  if (!want_params) return;
  for (int t = 0; t < nth; t++) {
    const float* pw = partial.data() + std::size_t(t) * 2 * C;
    for (int c = 0; c < C; c++) {
      dweight[c] += pw[c];
      dbias[c] += pw[C + c];
    }
  }
}

namespace {
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;
}  // namespace

namespace {
// 0.5 x (1 + tanh u) is x * sigmoid(2u): one exp instead of tanhf, and no cancellation (exp
// overflows to inf for very negative u, giving -0). fast_exp keeps the loop vectorised.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void gelu_forward_span(float* __restrict y, const float* __restrict x, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; i++) {
    const float u = kGeluScale * (x[i] + kGeluCubic * x[i] * x[i] * x[i]);
    y[i] = x[i] / (1.0f + detail::fast_exp(-2.0f * u));
  }
}

// With s = sigmoid(2u): 0.5 (1 + tanh u) = s and 0.5 (1 - tanh^2 u) = 2 s (1 - s).
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void gelu_backward_span(float* __restrict dx, const float* __restrict x,
                        const float* __restrict dy, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; i++) {
    const float u = kGeluScale * (x[i] + kGeluCubic * x[i] * x[i] * x[i]);
    // Capped so e stays finite (inf * 0 below would be NaN); past the cap the gradient is
    // below 1e-30 either way.
    const float e = detail::fast_exp(std::min(-2.0f * u, 80.0f));
    const float s = 1.0f / (1.0f + e);
    const float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x[i] * x[i]);
    // 1 - s as e * s: the subtraction would cancel where s is close to 1.
    dx[i] += (s + 2.0f * x[i] * s * (e * s) * du_dx) * dy[i];
  }
}
}  // namespace

void gelu_forward(float* out, const float* inp, std::size_t n) {
#pragma omp parallel num_threads(n > kMinParallelElems ? team_size() : 1)
  {
    const detail::Range r = detail::split_range(n, omp_get_thread_num(), omp_get_num_threads());
    gelu_forward_span(out + r.begin, inp + r.begin, r.end - r.begin);
  }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n) {
#pragma omp parallel num_threads(n > kMinParallelElems ? team_size() : 1)
  {
    const detail::Range r = detail::split_range(n, omp_get_thread_num(), omp_get_num_threads());
    gelu_backward_span(dinp + r.begin, inp + r.begin, dout + r.begin, r.end - r.begin);
  }
}

void residual_forward(float* out, const float* a, const float* b, std::size_t n) {
  // No restrict: out may alias a or b (documented), and the loop is still a plain stream.
#pragma omp parallel for simd num_threads(team_size()) if (n > kMinParallelElems)
  for (std::size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void residual_accumulate(float* acc, const float* x, std::size_t n) {
  float* __restrict y = acc;
  const float* __restrict src = x;
#pragma omp parallel for simd num_threads(team_size()) if (n > kMinParallelElems)
  for (std::size_t i = 0; i < n; i++) y[i] += src[i];
}

void adamw_update(float* params, const float* grads, float* m, float* v, std::size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t) {
  float* __restrict p = params;
  const float* __restrict g = grads;
  float* __restrict mm = m;
  float* __restrict vv = v;
  // Bias corrections once per call, in double: beta2^t is close to 1 for small t.
  const float inv_bc1 = float(1.0 / (1.0 - std::pow(double(beta1), t)));
  const float inv_bc2 = float(1.0 / (1.0 - std::pow(double(beta2), t)));
  const float decay = 1.0f - lr * weight_decay;
#pragma omp parallel for simd num_threads(team_size()) if (n > kMinParallelElems)
  for (std::size_t i = 0; i < n; i++) {
    const float m_new = beta1 * mm[i] + (1.0f - beta1) * g[i];
    const float v_new = beta2 * vv[i] + (1.0f - beta2) * g[i] * g[i];
    mm[i] = m_new;
    vv[i] = v_new;
    p[i] = p[i] * decay - lr * (m_new * inv_bc1) / (std::sqrt(v_new * inv_bc2) + eps);
  }
}

}  // namespace llmrt::kernels::cpu
