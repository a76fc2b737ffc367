// Fast fused softmax cross-entropy: rows go to threads, the exp over each vocab row vectorises
// (fast_exp, wide-vector clones); probabilities are never stored.
#include "cpu/fast_exp_cpu.h"
#include "cpu/kernels_cpu.h"
#include "cpu/threads_cpu.h"

#include <algorithm>
#include <cmath>

namespace llmrt::kernels::cpu {
using detail::fast_exp;
using detail::team_size;

namespace {

// Log-sum-exp of one row of n logits.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
float row_lse(const float* __restrict row, int n) {
  float maxv = -INFINITY;
#pragma omp simd reduction(max : maxv)
  for (int j = 0; j < n; j++) maxv = row[j] > maxv ? row[j] : maxv;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < n; j++) sum += fast_exp(row[j] - maxv);
  return maxv + std::log(sum);
}

// dst[j] = exp(src[j] - lse) * scale. dst may equal src (same index read, then written).
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void scaled_softmax_row(float* dst, const float* src, float lse, float scale, int n) {
#pragma omp simd
  for (int j = 0; j < n; j++) dst[j] = fast_exp(src[j] - lse) * scale;
}

}  // namespace

float crossentropy_forward(float* losses, float* lse, const float* logits,
                           const std::int32_t* targets, int N, int V, int Vp) {
  double total = 0.0;
#pragma omp parallel for num_threads(team_size()) reduction(+ : total)
  for (int i = 0; i < N; i++) {
    const float* row = logits + std::size_t(i) * Vp;  // columns [V, Vp) are padding: never read
    lse[i] = row_lse(row, V);
    losses[i] = lse[i] - row[targets[i]];
    total += losses[i];
  }
  return float(total / N);
}

void crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                           const std::int32_t* targets, float dloss, int N, int V, int Vp) {
  const float row_scale = dloss / N;
#pragma omp parallel for num_threads(team_size())
  for (int i = 0; i < N; i++) {
    const std::size_t at = std::size_t(i) * Vp;
    scaled_softmax_row(dlogits + at, logits + at, lse[i], row_scale, V);
    dlogits[at + targets[i]] -= row_scale;
    std::fill(dlogits + at + V, dlogits + at + Vp, 0.0f);  // padded classes get no gradient
  }
}

}  // namespace llmrt::kernels::cpu
