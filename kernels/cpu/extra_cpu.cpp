// CPU kernels beyond GPT-2's set, for layers written on the host's op table (llmrt_ops):
// RMSNorm, softmax, SiLU, elementwise products and reductions. OpenMP loops the compiler
// vectorises, split and guarded like dense_cpu.cpp's; the plain-loop specification of each is in
// tests/plugin/host_ops_test.cpp.
#include "cpu/kernels_cpu.h"
#include "cpu/threads_cpu.h"

#include <algorithm>
#include <cmath>

namespace llmrt::kernels::cpu {
using detail::kMinParallelElems;
using detail::team_size;

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(N) * C > kMinParallelElems)
  for (int i = 0; i < N; i++) {
    const float* __restrict x = inp + std::size_t(i) * C;
    float* __restrict y = out + std::size_t(i) * C;
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int c = 0; c < C; c++) sq += x[c] * x[c];
    const float rs = 1.0f / std::sqrt(sq / C + eps);
    for (int c = 0; c < C; c++) y[c] = x[c] * rs * weight[c];
    rstd[i] = rs;
  }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C) {
  // dx = rs * (w dy - norm * mean(w dy * norm)), norm = x rs; dw += sum over rows of dy * norm.
  if (dinp != nullptr) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(N) * C > kMinParallelElems)
    for (int i = 0; i < N; i++) {
      const float* __restrict x = inp + std::size_t(i) * C;
      const float* __restrict dy = dout + std::size_t(i) * C;
      float* __restrict dx = dinp + std::size_t(i) * C;
      const float rs = rstd[i];
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int c = 0; c < C; c++) dot += weight[c] * dy[c] * x[c] * rs;
      dot /= C;
      for (int c = 0; c < C; c++) dx[c] += rs * (weight[c] * dy[c] - x[c] * rs * dot);
    }
  }
  if (dweight != nullptr) {
    // Each thread owns a slice of channels and walks the rows: no reduction across threads.
    const int nth = C >= 256 ? team_size() : 1;
#pragma omp parallel num_threads(nth)
    {
      const detail::Range r = detail::split_range(std::size_t(C), omp_get_thread_num(), omp_get_num_threads());
      for (int i = 0; i < N; i++) {
        const float* __restrict x = inp + std::size_t(i) * C;
        const float* __restrict dy = dout + std::size_t(i) * C;
        const float rs = rstd[i];
        for (std::size_t c = r.begin; c < r.end; c++) dweight[c] += dy[c] * x[c] * rs;
      }
    }
  }
}

void softmax_forward(float* out, const float* inp, int N, int C) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(N) * C > kMinParallelElems)
  for (int i = 0; i < N; i++) {
    const float* __restrict x = inp + std::size_t(i) * C;
    float* __restrict y = out + std::size_t(i) * C;
    float mx = -INFINITY;
    for (int c = 0; c < C; c++) mx = std::max(mx, x[c]);
    float sum = 0.0f;
    for (int c = 0; c < C; c++) {
      y[c] = std::exp(x[c] - mx);
      sum += y[c];
    }
    const float inv = 1.0f / sum;
    for (int c = 0; c < C; c++) y[c] *= inv;
  }
}

void softmax_backward(float* dinp, const float* dout, const float* out, int N, int C) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(N) * C > kMinParallelElems)
  for (int i = 0; i < N; i++) {
    const float* __restrict y = out + std::size_t(i) * C;
    const float* __restrict dy = dout + std::size_t(i) * C;
    float* __restrict dx = dinp + std::size_t(i) * C;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int c = 0; c < C; c++) dot += dy[c] * y[c];
    for (int c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - dot);
  }
}

void silu_forward(float* out, const float* inp, std::size_t n) {
#pragma omp parallel for simd num_threads(team_size()) if (n > kMinParallelElems)
  for (std::size_t i = 0; i < n; i++) out[i] = inp[i] / (1.0f + std::exp(-inp[i]));
}

void silu_backward(float* dinp, const float* inp, const float* dout, std::size_t n) {
  // d/dx x s(x) = s (1 + x (1 - s))
#pragma omp parallel for simd num_threads(team_size()) if (n > kMinParallelElems)
  for (std::size_t i = 0; i < n; i++) {
    const float s = 1.0f / (1.0f + std::exp(-inp[i]));
    dinp[i] += s * (1.0f + inp[i] * (1.0f - s)) * dout[i];
  }
}

void mul_forward(float* out, const float* a, const float* b, std::size_t n) {
#pragma omp parallel for simd num_threads(team_size()) if (n > kMinParallelElems)
  for (std::size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

void mul_accumulate(float* acc, const float* a, const float* b, std::size_t n) {
#pragma omp parallel for simd num_threads(team_size()) if (n > kMinParallelElems)
  for (std::size_t i = 0; i < n; i++) acc[i] += a[i] * b[i];
}

void scale_forward(float* out, const float* a, float alpha, std::size_t n) {
#pragma omp parallel for simd num_threads(team_size()) if (n > kMinParallelElems)
  for (std::size_t i = 0; i < n; i++) out[i] = alpha * a[i];
}

void add_bias(float* out, const float* a, const float* bias, int N, int C) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(N) * C > kMinParallelElems)
  for (int i = 0; i < N; i++) {
    float* __restrict y = out + std::size_t(i) * C;
    if (a != nullptr) {
      const float* __restrict x = a + std::size_t(i) * C;
      for (int c = 0; c < C; c++) y[c] += x[c] + bias[c];
    } else {
      for (int c = 0; c < C; c++) y[c] += bias[c];
    }
  }
}

double sum_all(const float* in, std::size_t n, bool squares) {
  double total = 0.0;
#pragma omp parallel for num_threads(team_size()) if (n > kMinParallelElems) reduction(+ : total)
  for (std::size_t i = 0; i < n; i++) total += squares ? double(in[i]) * in[i] : double(in[i]);
  return total;
}

}  // namespace llmrt::kernels::cpu
