// @NAME@: a pre-norm residual projection, y = x + W (g * x / rms(x)), as an llmrt layer plugin
// (written by `llmrt plugins new`; make it yours). Tensor-parallel: each tp rank holds a slice of
// W's input columns and the same slice of the gain g, projects its slice of the normalised input,
// and the host's all-reduce on the tp group sums the partial outputs.
#include <cmath>
#include <string>
#include <vector>

#include <llmrt/plugin.hpp>

namespace {

class @CLASS@ : public llmrt::Layer {
 public:
  // forward repeats exactly from the same inputs, so the host may recompute it (train.recompute).
  static constexpr uint32_t kFlags = LLMRT_LAYER_RECOMPUTE_FULL;

  static std::vector<llmrt::ConfigKey> config_keys() {
    return {{"d_model", LLMRT_KEY_INT, std::nullopt, "width C of x and y (the host fills it in from an earlier layer)"},
            {"eps", LLMRT_KEY_FLOAT, "1e-5", "added to the mean square before the square root"},
            {"init_std", LLMRT_KEY_FLOAT, "0.02", "standard deviation of W's initial values"}};
  }

  explicit @CLASS@(const llmrt::ComponentArgs& args)
      : host_(args.host),
        c_(args.config.get_int("d_model")),
        eps_(static_cast<float>(args.config.get_float("eps"))),
        init_std_(args.config.get_float("init_std")) {
    const int64_t tp = args.layer.tp_size > 0 ? args.layer.tp_size : 1;
    if (c_ <= 0 || c_ % tp != 0) {
      throw llmrt::PluginError("@NAME@: d_model = " + std::to_string(c_) + " must be positive and divide by tp = " +
                               std::to_string(tp));
    }
    local_ = c_ / tp;
  }

  // in: x (B, T, C) f32  ->  out: y (B, T, C) f32
  std::vector<llmrt_tensor> infer_shapes(llmrt::In in) override {
    llmrt::expect_count(in.size(), 1, "@NAME@ inputs");
    if (in[0].rank != 3 || in[0].shape[2] != c_) {
      throw llmrt::PluginError("@NAME@: expected x of shape (B, T, d_model = " + std::to_string(c_) + ")");
    }
    return {in[0]};
  }

  // Global shapes; with tp > 1 the layer receives g (C/tp) and W (C, C/tp): shard_dim picks the split.
  std::vector<llmrt::ParamSpec> param_specs() override {
    return {{"g", {c_}, LLMRT_INIT_ONES, 0.0, 0}, {"w", {c_, c_}, LLMRT_INIT_NORMAL, init_std_, 1}};
  }

  llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) override {
    const double n = static_cast<double>(batch) * seq, matmul = 2.0 * n * c_ * local_;
    llmrt_cost_hints hints{};
    hints.forward_flops = matmul + 4.0 * n * c_;
    hints.backward_input_flops = matmul + 6.0 * n * c_;
    hints.backward_weight_flops = 2 * matmul;
    hints.input_bytes = 4.0 * n * c_;
    hints.activation_bytes = hints.input_bytes + static_cast<double>(saved_bytes(batch, seq));
    hints.parameter_bytes = 4.0 * (c_ * local_ + local_);
    return hints;
  }

  // r = 1 / rms(x) per row, kept for the backward passes: (B*T,) f32
  size_t saved_bytes(int64_t batch, int64_t seq) override { return sizeof(float) * batch * seq; }

  void forward(const llmrt_call_ctx& ctx, llmrt::In in, llmrt::In params, llmrt::Out out, llmrt::Saved saved) override {
    const Views v = views(ctx, in, params, saved);
    float* y = llmrt::cpu_data<float>(out[0], "y");
    std::vector<float> h(local_);  // this rank's slice of g * x / rms(x)
    for (int64_t n = 0; n < v.rows; ++n) {
      const float* x = v.x + n * c_;
      float square = 0;
      for (int64_t k = 0; k < c_; ++k) square += x[k] * x[k];
      v.r[n] = 1.f / std::sqrt(square / static_cast<float>(c_) + eps_);
      for (int64_t k = 0; k < local_; ++k) h[k] = v.g[k] * x[v.first + k] * v.r[n];
      for (int64_t i = 0; i < c_; ++i) {
        float sum = 0;
        for (int64_t k = 0; k < local_; ++k) sum += v.w[i * local_ + k] * h[k];
        y[n * c_ + i] = sum;
      }
    }
    reduce_over_tp(ctx, y, v.rows * c_);  // the partial projections of all tp ranks
    for (int64_t e = 0; e < v.rows * c_; ++e) y[e] += v.x[e];  // the residual, once
  }

  // grad_x is written (=); this layer's parameter gradients come in backward_weight.
  void backward_input(const llmrt_call_ctx& ctx, llmrt::In grad_out, llmrt::In in, llmrt::In params,
                      llmrt::Saved saved, llmrt::Out grad_in, llmrt::Out) override {
    const Views v = views(ctx, in, params, saved);
    const float* gy = llmrt::cpu_data<float>(grad_out[0], "grad_y");
    float* gx = llmrt::cpu_data<float>(grad_in[0], "grad_x");
    std::vector<float> u(local_);  // dL/d(x / rms(x)) on this rank's slice
    for (int64_t n = 0; n < v.rows; ++n) {
      const float* x = v.x + n * c_;
      const float r = v.r[n];
      float dot = 0;  // sum over the slice of u * x
      for (int64_t k = 0; k < local_; ++k) {
        u[k] = v.g[k] * grad_h(v, gy + n * c_, k);
        dot += u[k] * x[v.first + k];
      }
      // d(x_k r)/dx_m = r [k == m] - x_k x_m r^3 / C: the slice's share of grad_x, summed over ranks below.
      const float shared = dot * r * r * r / static_cast<float>(c_);
      for (int64_t m = 0; m < c_; ++m) gx[n * c_ + m] = -x[m] * shared;
      for (int64_t k = 0; k < local_; ++k) gx[n * c_ + v.first + k] += r * u[k];
    }
    reduce_over_tp(ctx, gx, v.rows * c_);
    for (int64_t e = 0; e < v.rows * c_; ++e) gx[e] += gy[e];  // through the residual
  }

  // Parameter gradients are accumulated (+=) over the microbatches of a step.
  void backward_weight(const llmrt_call_ctx& ctx, llmrt::In grad_out, llmrt::In in, llmrt::In params,
                       llmrt::Saved saved, llmrt::Out grad_params) override {
    const Views v = views(ctx, in, params, saved);
    const float* gy = llmrt::cpu_data<float>(grad_out[0], "grad_y");
    float* gg = llmrt::cpu_data<float>(grad_params[0], "grad_g");
    float* gw = llmrt::cpu_data<float>(grad_params[1], "grad_w");
    for (int64_t n = 0; n < v.rows; ++n) {
      const float* x = v.x + n * c_;
      for (int64_t k = 0; k < local_; ++k) {
        const float normed = x[v.first + k] * v.r[n], h = v.g[k] * normed;
        gg[k] += grad_h(v, gy + n * c_, k) * normed;
        for (int64_t i = 0; i < c_; ++i) gw[i * local_ + k] += gy[n * c_ + i] * h;
      }
    }
  }

 private:
  struct Views {
    const float *x, *g, *w;  // x (rows, C); g (C/tp,); w (C, C/tp)
    float* r;                // saved: (rows,)
    int64_t rows;            // B*T
    int64_t first;           // this tp rank's first column of x
  };

  Views views(const llmrt_call_ctx& ctx, llmrt::In in, llmrt::In params, llmrt::Saved saved) const {
    llmrt::expect_count(in.size(), 1, "@NAME@ inputs");
    llmrt::expect_count(params.size(), 2, "@NAME@ params");
    Views v{};
    v.x = llmrt::cpu_data<float>(in[0], "x");
    v.g = llmrt::cpu_data<float>(params[0], "g");
    v.w = llmrt::cpu_data<float>(params[1], "w");
    v.rows = llmrt::numel(in[0]) / c_;
    v.first = static_cast<int64_t>(ctx.tp_rank) * local_;
    if (saved.size() < sizeof(float) * v.rows) throw llmrt::PluginError("@NAME@: saved buffer too small", LLMRT_INTERNAL);
    v.r = reinterpret_cast<float*>(saved.data());
    return v;
  }

  // dL/dh_k = sum_i gy_i W_ik for one row: gy (C,)
  float grad_h(const Views& v, const float* gy, int64_t k) const {
    float sum = 0;
    for (int64_t i = 0; i < c_; ++i) sum += gy[i] * v.w[i * local_ + k];
    return sum;
  }

  // Sums `data` over the tp group in place, through the host (MPI or NCCL: the host's choice).
  void reduce_over_tp(const llmrt_call_ctx& ctx, float* data, int64_t count) const {
    if (ctx.tp_size <= 1) return;
    llmrt_status* status = host_->all_reduce(ctx.tp_comm, data, data, static_cast<size_t>(count), LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, ctx.stream);
    if (status != nullptr) {
      const std::string message = host_->status_message(status);
      host_->status_free(status);
      throw llmrt::PluginError("@NAME@: all-reduce over tp failed: " + message, LLMRT_INTERNAL);
    }
  }

  const llmrt_host_api* host_;
  int64_t c_, local_ = 0;
  float eps_;
  double init_std_;
};

}  // namespace

LLMRT_PLUGIN("@NAME@", "0.1.0") {
  registrar.add_layer<@CLASS@>("@NAME@", "0.1.0", "pre-norm residual projection: x + W (g * x / rms(x)), fp32 CPU");
}
