// Fast causal attention around sgemm. Each (batch, head) pair is a few small GEMMs over blocks
// of query rows, reading q, k, v in place from the (B, T, 3C) layout (row stride 3C). Scores
// live only in a per-thread (block rows, T) scratch, never (B, NH, T, T); backward recomputes
// the probabilities from the saved log-sum-exp. Pairs go to threads, which write disjoint
// slices of out and dqkv.
#include "cpu/fast_exp_cpu.h"
#include "cpu/kernels_cpu.h"
#include "cpu/threads_cpu.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace llmrt::kernels::cpu {
using detail::fast_exp;
using detail::team_size;

namespace {

// Query rows per block. A block of rows needs keys [0, r1) only, so the GEMMs skip the upper
// triangle but the diagonal block's (computed, then masked) upper half. Smaller blocks waste
// less but make smaller GEMMs: at B 8, T 256, C 256, NH 4 on one thread, forward + backward
// took 18.3 ms (blocks of 16), 17.4 (32), 17.1 (48), 18.1 (64), 19.9 (128), 25.4 (256, the
// full T x T). A multiple of 16 keeps rows whole AVX-512 vectors.
constexpr int kRowBlock = 48;

// One (batch, head): q, k, v rows are 3C apart; out/dout rows C apart.
struct Head {
  const float* q;
  const float* k;
  const float* v;
  int qkv_stride;  // 3C
  int out_stride;  // C
  int T, hs;
  float scale;
};

Head make_head(const float* qkv, int bh, int T, int C, int NH) {
  const int b = bh / NH, h = bh % NH, hs = C / NH;
  const float* base = qkv + std::size_t(b) * T * 3 * C + std::size_t(h) * hs;
  return {base, base + C, base + 2 * C, 3 * C, C, T, hs, 1.0f / std::sqrt(float(hs))};
}

// Row i of s (ld apart) holds the scaled scores of query r0 + i against keys [0, ld). Turns
// each into probabilities over the visible keys [0, r0 + i], zeros past the diagonal, and
// writes the row's log-sum-exp. Loops run over whole rows, masking past the diagonal, so they
// stay vector code end to end (a scalar remainder per row cost more than the masked lanes);
// the clones let the exp and reductions use wide vectors.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void softmax_rows(float* s, float* lse, int r0, int r1, int ld) {
  for (int t = r0; t < r1; t++) {
    float* __restrict row = s + std::size_t(t - r0) * ld;
    float maxv = -INFINITY;
#pragma omp simd reduction(max : maxv)
    for (int j = 0; j < ld; j++) {
      const float v = j <= t ? row[j] : -INFINITY;
      maxv = v > maxv ? v : maxv;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < ld; j++) {
      row[j] = fast_exp((j <= t ? row[j] : -INFINITY) - maxv);  // exp(-inf) = 0
      sum += row[j];
    }
    const float inv_sum = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < ld; j++) row[j] *= inv_sum;
    lse[t] = maxv + std::log(sum);
  }
}

// Backward of softmax for rows [r0, r1): row i of s and dp (ld apart) covers keys [0, r1).
// s holds scaled scores and becomes p = exp(s - lse) (zero past the diagonal); dp holds
// dout . v and becomes ds = p (dp - dout_t . out_t), since dout_t . out_t = sum_j p_j dp_j.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void softmax_grad_rows(float* s, float* dp, int ld, const float* lse, const float* dout,
                       const float* out, int out_stride, int hs, int r0, int r1) {
  for (int t = r0; t < r1; t++) {
    float* __restrict p = s + std::size_t(t - r0) * ld;
    float* __restrict d = dp + std::size_t(t - r0) * ld;
    const float* __restrict dy = dout + std::size_t(t) * out_stride;
    const float* __restrict y = out + std::size_t(t) * out_stride;
    float dy_dot_out = 0.0f;
#pragma omp simd reduction(+ : dy_dot_out)
    for (int c = 0; c < hs; c++) dy_dot_out += dy[c] * y[c];
    const float row_lse = lse[t];
#pragma omp simd
    for (int j = 0; j < r1; j++) {
      p[j] = fast_exp((j <= t ? p[j] : -INFINITY) - row_lse);
      d[j] = p[j] * (d[j] - dy_dot_out);
    }
  }
}

// s: scratch of kRowBlock * T floats.
void head_forward(float* out, float* lse, const Head& hd, float* s) {
  const int qs = hd.qkv_stride, os = hd.out_stride;
  for (int r0 = 0; r0 < hd.T; r0 += kRowBlock) {
    const int r1 = std::min(r0 + kRowBlock, hd.T), rows = r1 - r0;
    // s (rows, r1) = scale * q[r0:r1] @ k[0:r1]^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, r1, hd.hs, hd.scale,
                hd.q + std::size_t(r0) * qs, qs, hd.k, qs, 0.0f, s, r1);
    softmax_rows(s, lse, r0, r1, r1);
    // out[r0:r1] (rows, hs) = p @ v[0:r1]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd.hs, r1, 1.0f, s, r1, hd.v, qs,
                0.0f, out + std::size_t(r0) * os, os);
  }
}

// dq, dk, dv: this head's slices of dqkv (row stride 3C), added into. s, dp: scratch of
// kRowBlock * T floats each. (Keeping p and ds for the whole head, T * T each, would let dk
// and dv go by blocks of keys with longer GEMMs: ~5% faster at T = 256, not worth T^2 memory.)
void head_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                   const float* lse, const Head& hd, float* s, float* dp) {
  const int qs = hd.qkv_stride, os = hd.out_stride;
  for (int r0 = 0; r0 < hd.T; r0 += kRowBlock) {
    const int r1 = std::min(r0 + kRowBlock, hd.T), rows = r1 - r0;
    const float* q_blk = hd.q + std::size_t(r0) * qs;
    const float* dout_blk = dout + std::size_t(r0) * os;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, r1, hd.hs, hd.scale, q_blk, qs,
                hd.k, qs, 0.0f, s, r1);
    // dp (rows, r1) = dout[r0:r1] @ v[0:r1]^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, r1, hd.hs, 1.0f, dout_blk, os, hd.v,
                qs, 0.0f, dp, r1);
    softmax_grad_rows(s, dp, r1, lse, dout, out, os, hd.hs, r0, r1);
    // dv[0:r1] += p^T @ dout[r0:r1]
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd.hs, rows, 1.0f, s, r1, dout_blk,
                os, 1.0f, dv, qs);
    // dq[r0:r1] += scale * ds @ k[0:r1]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd.hs, r1, hd.scale, dp, r1, hd.k,
                qs, 1.0f, dq + std::size_t(r0) * qs, qs);
    // dk[0:r1] += scale * ds^T @ q[r0:r1]
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd.hs, rows, hd.scale, dp, r1, q_blk,
                qs, 1.0f, dk, qs);
  }
}

// Threads for B * NH pairs: the team when every thread gets a pair, each running
// single-threaded GEMMs; otherwise one thread and a threaded BLAS. At B 8, T 256, C 256, NH 4
// on two threads, pairs to the team took 5.4 + 12.4 ms (forward + backward), one pair at a
// time with a two-thread BLAS 6.3 + 14.3 ms. Pairs are handed out dynamically: cheap at
// ~0.2 ms a pair, and a thread the OS preempts does not hold up the rest.
int pair_threads(int pairs) {
  const int nth = team_size();
  return pairs >= nth ? nth : 1;
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C, int NH) {
  const int hs = C / NH, nth = pair_threads(B * NH);
  const detail::SerialBlas serial_blas(nth > 1);
#pragma omp parallel num_threads(nth)
  {
    std::vector<float> s(std::size_t(std::min(kRowBlock, T)) * T);
#pragma omp for schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
      const int b = bh / NH, h = bh % NH;
      head_forward(out + std::size_t(b) * T * C + std::size_t(h) * hs, lse + std::size_t(bh) * T,
                   make_head(qkv, bh, T, C, NH), s.data());
    }
  }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                        const float* lse, int B, int T, int C, int NH) {
  const int hs = C / NH, nth = pair_threads(B * NH);
  const detail::SerialBlas serial_blas(nth > 1);
#pragma omp parallel num_threads(nth)
  {
    const std::size_t block = std::size_t(std::min(kRowBlock, T)) * T;
    std::vector<float> scratch(2 * block);
#pragma omp for schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
      const int b = bh / NH, h = bh % NH;
      const std::size_t out_off = std::size_t(b) * T * C + std::size_t(h) * hs;
      float* dq = dqkv + std::size_t(b) * T * 3 * C + std::size_t(h) * hs;
      head_backward(dq, dq + C, dq + 2 * C, dout + out_off, out + out_off,
                    lse + std::size_t(bh) * T, make_head(qkv, bh, T, C, NH), scratch.data(),
                    scratch.data() + block);
    }
  }
}

}  // namespace llmrt::kernels::cpu
