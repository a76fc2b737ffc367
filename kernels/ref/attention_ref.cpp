// Reference kernels for causal self-attention and fused softmax cross-entropy: one query row
// (one logits row) at a time, with double accumulators, straight from the math.
#include "ref/kernels_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace llmrt::kernels::ref {
namespace {

// Pointers into qkv / out for one (b, h): rows advance by `stride` floats.
struct HeadView {
  const float* q;
  const float* k;
  const float* v;
  std::size_t stride;  // 3C
};

HeadView head_view(const float* qkv, int b, int h, int T, int C, int NH) {
  const int hs = C / NH;
  const float* base = qkv + std::size_t(b) * T * 3 * C + std::size_t(h) * hs;
  return {base, base + C, base + 2 * C, std::size_t(3) * C};
}

// scores[j] = scale * q_t . k_j for j <= t.
void row_scores(std::vector<double>& scores, const HeadView& hv, int t, int hs, double scale) {
  for (int j = 0; j <= t; j++) {
    double dot = 0.0;
    for (int d = 0; d < hs; d++) dot += double(hv.q[t * hv.stride + d]) * hv.k[j * hv.stride + d];
    scores[j] = dot * scale;
  }
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C, int NH) {
  const int hs = C / NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  std::vector<double> scores(T);
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      const HeadView hv = head_view(qkv, b, h, T, C, NH);
      for (int t = 0; t < T; t++) {
        row_scores(scores, hv, t, hs, scale);
        double maxv = scores[0];
        for (int j = 1; j <= t; j++) maxv = std::max(maxv, scores[j]);
        double sum = 0.0;
        for (int j = 0; j <= t; j++) sum += std::exp(scores[j] - maxv);
        const double row_lse = maxv + std::log(sum);
        lse[(std::size_t(b) * NH + h) * T + t] = float(row_lse);
        float* o = out + (std::size_t(b) * T + t) * C + std::size_t(h) * hs;
        for (int d = 0; d < hs; d++) {
          double acc = 0.0;
          for (int j = 0; j <= t; j++) acc += std::exp(scores[j] - row_lse) * hv.v[j * hv.stride + d];
          o[d] = float(acc);
        }
      }
    }
  }
}

// Per query row t: p = softmax(scores), dp_j = dout_t . v_j, ds_j = p_j (dp_j - sum_k p_k dp_k),
// then dq_t, dk_j, dv_j follow from scores = scale * q k^T and out = p v.
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                        const float* lse, int B, int T, int C, int NH) {
  const int hs = C / NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  std::vector<double> p(T), dp(T);
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      const HeadView hv = head_view(qkv, b, h, T, C, NH);
      float* dq = dqkv + std::size_t(b) * T * 3 * C + std::size_t(h) * hs;
      float* dk = dq + C;
      float* dv = dq + 2 * C;
      for (int t = 0; t < T; t++) {
        const float* dy = dout + (std::size_t(b) * T + t) * C + std::size_t(h) * hs;
        row_scores(p, hv, t, hs, scale);
        double p_dot_dp = 0.0;
        for (int j = 0; j <= t; j++) {
          p[j] = std::exp(p[j] - lse[(std::size_t(b) * NH + h) * T + t]);
          double dot = 0.0;
          for (int d = 0; d < hs; d++) dot += double(dy[d]) * hv.v[j * hv.stride + d];
          dp[j] = dot;
          p_dot_dp += p[j] * dot;
        }
        for (int j = 0; j <= t; j++) {
          const double ds = p[j] * (dp[j] - p_dot_dp) * scale;
          for (int d = 0; d < hs; d++) {
            dq[t * hv.stride + d] += float(ds * hv.k[j * hv.stride + d]);
            dk[j * hv.stride + d] += float(ds * hv.q[t * hv.stride + d]);
            dv[j * hv.stride + d] += float(p[j] * dy[d]);
          }
        }
      }
    }
  }
}

float crossentropy_forward(float* losses, float* lse, const float* logits,
                           const std::int32_t* targets, int N, int V, int Vp) {
  double total = 0.0;
  for (int i = 0; i < N; i++) {
    const float* row = logits + std::size_t(i) * Vp;  // columns [V, Vp) are padding: never read
    double maxv = row[0];
    for (int j = 1; j < V; j++) maxv = std::max(maxv, double(row[j]));
    double sum = 0.0;
    for (int j = 0; j < V; j++) sum += std::exp(row[j] - maxv);
    const double row_lse = maxv + std::log(sum);
    lse[i] = float(row_lse);
    losses[i] = float(row_lse - row[targets[i]]);
    total += row_lse - row[targets[i]];
  }
  return float(total / N);
}

void crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                           const std::int32_t* targets, float dloss, int N, int V, int Vp) {
  const double row_scale = double(dloss) / N;
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < Vp; j++) {
      const std::size_t at = std::size_t(i) * Vp + j;
      if (j >= V) {  // a padded class: no probability, no gradient
        dlogits[at] = 0.0f;
        continue;
      }
      const double prob = std::exp(double(logits[at]) - lse[i]);
      dlogits[at] = float((prob - (j == targets[i] ? 1.0 : 0.0)) * row_scale);
    }
  }
}

}  // namespace llmrt::kernels::ref
