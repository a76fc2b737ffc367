// Reference kernels for the position-wise layers: encoder, layernorm, matmul, GELU, residual,
// AdamW. Plain loops with double accumulators, so the reference is the more accurate side.
#include "ref/kernels_ref.h"

#include <cmath>

namespace llmrt::kernels::ref {

void encoder_forward(float* out, const std::int32_t* tokens, const float* wte, const float* wpe,
                     int B, int T, int C) {
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const std::size_t bt = std::size_t(b) * T + t;
      const float* tok_row = wte + std::size_t(tokens[bt]) * C;
      const float* pos_row = wpe + std::size_t(t) * C;
      for (int c = 0; c < C; c++) out[bt * C + c] = tok_row[c] + pos_row[c];
    }
  }
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const std::int32_t* tokens,
                      int B, int T, int C) {
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const std::size_t bt = std::size_t(b) * T + t;
      for (int c = 0; c < C; c++) {
        dwte[std::size_t(tokens[bt]) * C + c] += dout[bt * C + c];
        dwpe[std::size_t(t) * C + c] += dout[bt * C + c];
      }
    }
  }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int N, int C) {
  for (int i = 0; i < N; i++) {
    const float* x = inp + std::size_t(i) * C;
    double sum = 0.0;
    for (int c = 0; c < C; c++) sum += x[c];
    const double mu = sum / C;
    double var = 0.0;
    for (int c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu);
    const double rs = 1.0 / std::sqrt(var / C + 1e-5);
    for (int c = 0; c < C; c++) {
      out[std::size_t(i) * C + c] = float((x[c] - mu) * rs * weight[c] + bias[c]);
    }
    mean[i] = float(mu);
    rstd[i] = float(rs);
  }
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd,
                        int N, int C) {
  for (int i = 0; i < N; i++) {
    const float* x = inp + std::size_t(i) * C;
    const float* dy = dout + std::size_t(i) * C;
    // The two row means that couple every input of the row through mean and rstd.
    double dnorm_mean = 0.0, dnorm_norm_mean = 0.0;
    for (int c = 0; c < C; c++) {
      const double norm = (double(x[c]) - mean[i]) * rstd[i];
      const double dnorm = double(weight[c]) * dy[c];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean /= C;
    dnorm_norm_mean /= C;
    for (int c = 0; c < C; c++) {
      const double norm = (double(x[c]) - mean[i]) * rstd[i];
      const double dnorm = double(weight[c]) * dy[c];
      if (dinp) {
        dinp[std::size_t(i) * C + c] += float((dnorm - dnorm_mean - norm * dnorm_norm_mean) * rstd[i]);
      }
      if (dweight) dweight[c] += float(norm * dy[c]);
      if (dbias) dbias[c] += dy[c];
    }
  }
}

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N,
                    int C, int OC) {
  for (int i = 0; i < N; i++) {
    for (int o = 0; o < OC; o++) {
      double acc = bias ? bias[o] : 0.0;
      for (int c = 0; c < C; c++) {
        acc += double(inp[std::size_t(i) * C + c]) * weight[std::size_t(o) * C + c];
      }
      out[std::size_t(i) * OC + o] = float(acc);
    }
  }
}

void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                           int OC) {
  for (int i = 0; i < N; i++) {
    for (int c = 0; c < C; c++) {
      double acc = 0.0;
      for (int o = 0; o < OC; o++) {
        acc += double(dout[std::size_t(i) * OC + o]) * weight[std::size_t(o) * C + c];
      }
      dinp[std::size_t(i) * C + c] += float(acc);
    }
  }
}

void matmul_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp,
                            int N, int C, int OC) {
  for (int o = 0; o < OC; o++) {
    for (int c = 0; c < C; c++) {
      double acc = 0.0;
      for (int i = 0; i < N; i++) {
        acc += double(dout[std::size_t(i) * OC + o]) * inp[std::size_t(i) * C + c];
      }
      dweight[std::size_t(o) * C + c] += float(acc);
    }
    if (dbias) {
      double acc = 0.0;
      for (int i = 0; i < N; i++) acc += dout[std::size_t(i) * OC + o];
      dbias[o] += float(acc);
    }
  }
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC) {
  matmul_backward_input(dinp, dout, weight, N, C, OC);
  matmul_backward_weight(dweight, dbias, dout, inp, N, C, OC);
}

namespace {
constexpr double kGeluScale = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kGeluCubic = 0.044715;
}  // namespace

void gelu_forward(float* out, const float* inp, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) {
    const double x = inp[i];
    const double u = kGeluScale * (x + kGeluCubic * x * x * x);
    out[i] = float(0.5 * x * (1.0 + std::tanh(u)));
  }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) {
    const double x = inp[i];
    const double u = kGeluScale * (x + kGeluCubic * x * x * x);
    const double th = std::tanh(u);
    const double du_dx = kGeluScale * (1.0 + 3.0 * kGeluCubic * x * x);
    const double grad = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du_dx;
    dinp[i] += float(grad * dout[i]);
  }
}

void residual_forward(float* out, const float* a, const float* b, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void residual_accumulate(float* acc, const float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; i++) acc[i] += x[i];
}

void adamw_update(float* params, const float* grads, float* m, float* v, std::size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t) {
  const double bias_correction1 = 1.0 - std::pow(double(beta1), t);
  const double bias_correction2 = 1.0 - std::pow(double(beta2), t);
  for (std::size_t i = 0; i < n; i++) {
    const double g = grads[i];
    const double m_new = double(beta1) * m[i] + (1.0 - beta1) * g;
    const double v_new = double(beta2) * v[i] + (1.0 - beta2) * g * g;
    const double m_hat = m_new / bias_correction1;
    const double v_hat = v_new / bias_correction2;
    double p = params[i];
    p -= double(lr) * weight_decay * p;  // decoupled: decays the weight, not the gradient
    p -= double(lr) * m_hat / (std::sqrt(v_hat) + eps);
    m[i] = float(m_new);
    v[i] = float(v_new);
    params[i] = float(p);
  }
}

}  // namespace llmrt::kernels::ref
