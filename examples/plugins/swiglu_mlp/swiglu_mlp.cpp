// A SwiGLU MLP as an out-of-tree llmrt layer plugin: y = W2 (silu(W1 x) * W3 x), with plain-loop
// fp32 CPU forward and backward. Tensor-parallel: W1/W3 split by rows, W2 by columns, and the
// partial outputs summed with the host's all-reduce on the layer's group.
#include <cmath>

#include <llmrt/plugin.hpp>

namespace {

float sigmoid(float a) { return 1.f / (1.f + std::exp(-a)); }

class SwigluMlp : public llmrt::Layer {
 public:
  static std::vector<llmrt::ConfigKey> config_keys() {
    return {{"d_model", LLMRT_KEY_INT, std::nullopt, "width C of the input and output"},
            {"hidden", LLMRT_KEY_INT, std::nullopt, "width H of the gated hidden layer"},
            {"init_std", LLMRT_KEY_FLOAT, "0.02", "standard deviation of the initial weights"}};
  }

  explicit SwigluMlp(const llmrt::ComponentArgs& args)
      : host_(args.host),
        c_(args.config.get_int("d_model")),
        h_global_(args.config.get_int("hidden")),
        init_std_(args.config.get_float("init_std")) {
    const int64_t tp = args.layer.tp_size > 0 ? args.layer.tp_size : 1;
    if (c_ <= 0 || h_global_ <= 0) throw llmrt::PluginError("swiglu: d_model and hidden must be positive");
    if (h_global_ % tp != 0) {
      throw llmrt::PluginError("swiglu: hidden = " + std::to_string(h_global_) + " does not divide by tp = " +
                               std::to_string(tp));
    }
    h_ = h_global_ / tp;
  }

  // in: x (B, T, C) f32  ->  out: y (B, T, C) f32
  std::vector<llmrt_tensor> infer_shapes(llmrt::In in) override {
    llmrt::expect_count(in.size(), 1, "swiglu inputs");
    if (in[0].rank != 3 || in[0].shape[2] != c_) throw llmrt::PluginError("swiglu: expected x of shape (B, T, d_model)");
    return {in[0]};
  }

  std::vector<llmrt::ParamSpec> param_specs() override {
    return {{"w1", {h_global_, c_}, LLMRT_INIT_NORMAL, init_std_, 0},
            {"w3", {h_global_, c_}, LLMRT_INIT_NORMAL, init_std_, 0},
            {"w2", {c_, h_global_}, LLMRT_INIT_NORMAL, init_std_, 1}};
  }

  llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) override {
    const double n = static_cast<double>(batch) * seq, matmul = 2.0 * n * c_ * h_;
    llmrt_cost_hints hints{};
    hints.forward_flops = 3 * matmul;
    hints.backward_input_flops = 3 * matmul;
    hints.backward_weight_flops = 3 * matmul;
    hints.activation_bytes = 4.0 * n * c_ + static_cast<double>(saved_bytes(batch, seq));
    hints.parameter_bytes = 4.0 * 3 * c_ * h_;
    return hints;
  }

  // a = W1 x and b = W3 x, kept for the backward passes: 2 x (B*T, H_local) f32
  size_t saved_bytes(int64_t batch, int64_t seq) override { return sizeof(float) * 2 * batch * seq * h_; }

  void forward(const llmrt_call_ctx& ctx, llmrt::In in, llmrt::In params, llmrt::Out out, llmrt::Saved saved) override {
    const Views v = views(in, params, saved);
    float* y = llmrt::cpu_data<float>(out[0], "y");
    for (int64_t n = 0; n < v.rows; ++n) {
      for (int64_t j = 0; j < h_; ++j) {
        float a = 0, b = 0;
        for (int64_t k = 0; k < c_; ++k) {
          a += v.w1[j * c_ + k] * v.x[n * c_ + k];
          b += v.w3[j * c_ + k] * v.x[n * c_ + k];
        }
        v.a[n * h_ + j] = a;
        v.b[n * h_ + j] = b;
      }
      for (int64_t i = 0; i < c_; ++i) {
        float sum = 0;
        for (int64_t j = 0; j < h_; ++j) sum += v.w2[i * h_ + j] * gate(v.a[n * h_ + j], v.b[n * h_ + j]);
        y[n * c_ + i] = sum;
      }
    }
    reduce_over_tp(ctx, y, v.rows * c_);
  }

  void backward_input(const llmrt_call_ctx& ctx, llmrt::In grad_out, llmrt::In in, llmrt::In params,
                      llmrt::Saved saved, llmrt::Out grad_in, llmrt::Out) override {
    const Views v = views(in, params, saved);
    const float* gy = llmrt::cpu_data<float>(grad_out[0], "grad_y");
    float* gx = llmrt::cpu_data<float>(grad_in[0], "grad_x");
    std::vector<float> ga(h_), gb(h_);
    for (int64_t n = 0; n < v.rows; ++n) {
      gate_grads(v, gy, n, ga.data(), gb.data());
      for (int64_t k = 0; k < c_; ++k) {
        float sum = 0;
        for (int64_t j = 0; j < h_; ++j) sum += v.w1[j * c_ + k] * ga[j] + v.w3[j * c_ + k] * gb[j];
        gx[n * c_ + k] = sum;
      }
    }
    reduce_over_tp(ctx, gx, v.rows * c_);
  }

  void backward_weight(const llmrt_call_ctx&, llmrt::In grad_out, llmrt::In in, llmrt::In params, llmrt::Saved saved,
                       llmrt::Out grad_params) override {
    const Views v = views(in, params, saved);
    const float* gy = llmrt::cpu_data<float>(grad_out[0], "grad_y");
    float* gw1 = llmrt::cpu_data<float>(grad_params[0], "grad_w1");
    float* gw3 = llmrt::cpu_data<float>(grad_params[1], "grad_w3");
    float* gw2 = llmrt::cpu_data<float>(grad_params[2], "grad_w2");
    std::vector<float> ga(h_), gb(h_);
    for (int64_t n = 0; n < v.rows; ++n) {
      gate_grads(v, gy, n, ga.data(), gb.data());
      for (int64_t j = 0; j < h_; ++j) {
        const float g = gate(v.a[n * h_ + j], v.b[n * h_ + j]);
        for (int64_t i = 0; i < c_; ++i) gw2[i * h_ + j] += gy[n * c_ + i] * g;
        for (int64_t k = 0; k < c_; ++k) {
          gw1[j * c_ + k] += ga[j] * v.x[n * c_ + k];
          gw3[j * c_ + k] += gb[j] * v.x[n * c_ + k];
        }
      }
    }
  }

 private:
  struct Views {
    const float *x, *w1, *w3, *w2;
    float *a, *b;  // saved: (rows, H_local) each
    int64_t rows;  // B*T
  };

  Views views(llmrt::In in, llmrt::In params, llmrt::Saved saved) const {
    llmrt::expect_count(in.size(), 1, "swiglu inputs");
    llmrt::expect_count(params.size(), 3, "swiglu params");
    Views v{};
    v.x = llmrt::cpu_data<float>(in[0], "x");
    v.w1 = llmrt::cpu_data<float>(params[0], "w1");
    v.w3 = llmrt::cpu_data<float>(params[1], "w3");
    v.w2 = llmrt::cpu_data<float>(params[2], "w2");
    v.rows = llmrt::numel(in[0]) / c_;
    if (saved.size() < sizeof(float) * 2 * v.rows * h_) throw llmrt::PluginError("swiglu: saved buffer too small", LLMRT_INTERNAL);
    v.a = reinterpret_cast<float*>(saved.data());
    v.b = v.a + v.rows * h_;
    return v;
  }

  static float gate(float a, float b) { return a * sigmoid(a) * b; }

  // For row n: ga = dL/da and gb = dL/db, from gh = W2^T gy.
  void gate_grads(const Views& v, const float* gy, int64_t n, float* ga, float* gb) const {
    for (int64_t j = 0; j < h_; ++j) {
      float gh = 0;
      for (int64_t i = 0; i < c_; ++i) gh += v.w2[i * h_ + j] * gy[n * c_ + i];
      const float a = v.a[n * h_ + j], b = v.b[n * h_ + j], s = sigmoid(a);
      ga[j] = gh * b * (s + a * s * (1 - s));
      gb[j] = gh * a * s;
    }
  }

  // Each tensor-parallel rank holds a slice of H, so its output is a partial sum.
  void reduce_over_tp(const llmrt_call_ctx& ctx, float* data, int64_t count) const {
    if (ctx.tp_size <= 1) return;
    llmrt_status* status = host_->all_reduce(ctx.tp_comm, data, data, static_cast<size_t>(count), LLMRT_DTYPE_F32,
                                             LLMRT_REDUCE_SUM, ctx.stream);
    if (status != nullptr) {
      std::string message = host_->status_message(status);
      host_->status_free(status);
      throw llmrt::PluginError("swiglu: all-reduce failed: " + message, LLMRT_INTERNAL);
    }
  }

  const llmrt_host_api* host_;
  int64_t c_, h_global_, h_ = 0;
  double init_std_;
};

}  // namespace

LLMRT_PLUGIN("swiglu-example", "0.1.0") {
  registrar.add_layer<SwigluMlp>("example.swiglu_mlp", "0.1.0", "SwiGLU MLP: W2 (silu(W1 x) * W3 x), fp32 CPU");
}
