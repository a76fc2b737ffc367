// A SwiGLU MLP as an out-of-tree llmrt layer plugin: y = W2 (silu(W1 x) * W3 x), computed through
// the host's op table (llmrt/ops.hpp), so it runs the same kernels as the built-in GPT layers
// (OpenBLAS GEMMs, vectorised pointwise loops) without linking llmrt. Tensor-parallel: W1/W3
// split by rows, W2 by columns, and the partial outputs summed with the host's all-reduce.
// fp32 on the CPU (the op table's CPU dtype).
// It computes through the op table or reads the parameter table (ABI minor 1): an older host
// refuses the file at load.
#define LLMRT_PLUGIN_MIN_HOST_MINOR 1
#include <llmrt/ops.hpp>
#include <llmrt/plugin.hpp>

#include <algorithm>
#include <vector>

namespace {

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
    llmrt::Ops::require(host_);  // an older host refuses the layer here, at create
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

  // Forward keeps a = W1 x, b = W3 x and the gated h = silu(a) * b; backward_input adds da and db
  // (the gradients at a and b) for backward_weight: 5 x (B*T, H_local) f32.
  size_t saved_bytes(int64_t batch, int64_t seq) override { return sizeof(float) * kSaved * batch * seq * h_; }

  void forward(const llmrt_call_ctx& ctx, llmrt::In in, llmrt::In params, llmrt::Out out, llmrt::Saved saved) override {
    const Views v = views(in, params, saved);
    llmrt::expect_count(out.size(), 1, "swiglu outputs");
    float* y = llmrt::cpu_data<float>(out[0], "y");  // (N, C)
    const llmrt::Ops ops(host_, ctx);
    const int64_t nh = v.rows * h_;
    ops.linear_forward(v.a, v.x, v.w1, nullptr, v.rows, c_, h_);  // a (N, H) = x W1^T
    ops.linear_forward(v.b, v.x, v.w3, nullptr, v.rows, c_, h_);  // b (N, H) = x W3^T
    ops.activation_forward(LLMRT_ACT_SILU, v.h, v.a, nh);         // h = silu(a)
    ops.elementwise(LLMRT_EW_MUL, v.h, v.h, v.b, nh);             // h *= b
    ops.linear_forward(y, v.h, v.w2, nullptr, v.rows, h_, c_);    // y (N, C) = h W2^T, partial under tp
    if (ctx.tp_size > 1) ops.tp_sum(y, y, v.rows * c_);
  }

  // dy (N, C) -> dx (N, C) written; leaves da, db in the saved buffer.
  void backward_input(const llmrt_call_ctx& ctx, llmrt::In grad_out, llmrt::In in, llmrt::In params,
                      llmrt::Saved saved, llmrt::Out grad_in, llmrt::Out) override {
    const Views v = views(in, params, saved);
    const float* dy = llmrt::cpu_data<float>(grad_out[0], "grad_y");
    float* dx = llmrt::cpu_data<float>(grad_in[0], "grad_x");
    const llmrt::Ops ops(host_, ctx);
    const int64_t nh = v.rows * h_;
    std::vector<float> dh(nh, 0.0f), gate(nh);                           // (N, H) scratch
    ops.linear_backward_input(dh.data(), dy, v.w2, v.rows, h_, c_);      // dh = dy W2
    ops.activation_forward(LLMRT_ACT_SILU, gate.data(), v.a, nh);        // silu(a)
    ops.elementwise(LLMRT_EW_MUL, v.db, dh.data(), gate.data(), nh);     // db = dh silu(a)
    ops.elementwise(LLMRT_EW_MUL, dh.data(), dh.data(), v.b, nh);        // dh b: the gradient at silu(a)
    std::fill_n(v.da, nh, 0.0f);
    ops.activation_backward(LLMRT_ACT_SILU, v.da, v.a, dh.data(), nh);  // da = silu'(a) dh b
    std::fill_n(dx, v.rows * c_, 0.0f);
    ops.linear_backward_input(dx, v.da, v.w1, v.rows, c_, h_);           // dx = da W1 + db W3
    ops.linear_backward_input(dx, v.db, v.w3, v.rows, c_, h_);
    if (ctx.tp_size > 1) ops.tp_sum(dx, dx, v.rows * c_);
  }

  // dW1 += da^T x, dW3 += db^T x, dW2 += dy^T h.
  void backward_weight(const llmrt_call_ctx& ctx, llmrt::In grad_out, llmrt::In in, llmrt::In params, llmrt::Saved saved,
                       llmrt::Out grad_params) override {
    const Views v = views(in, params, saved);
    llmrt::expect_count(grad_params.size(), 3, "swiglu parameter gradients");
    const float* dy = llmrt::cpu_data<float>(grad_out[0], "grad_y");
    const llmrt::Ops ops(host_, ctx);
    ops.linear_backward_weight(llmrt::cpu_data<float>(grad_params[0], "grad_w1"), nullptr, v.da, v.x, v.rows, c_, h_);
    ops.linear_backward_weight(llmrt::cpu_data<float>(grad_params[1], "grad_w3"), nullptr, v.db, v.x, v.rows, c_, h_);
    ops.linear_backward_weight(llmrt::cpu_data<float>(grad_params[2], "grad_w2"), nullptr, dy, v.h, v.rows, h_, c_);
  }

 private:
  static constexpr int64_t kSaved = 5;  // a, b, h, da, db
  struct Views {
    const float *x, *w1, *w3, *w2;
    float *a, *b, *h, *da, *db;  // saved: (rows, H_local) each
    int64_t rows;                // B*T
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
    const size_t nh = static_cast<size_t>(v.rows * h_);
    if (saved.size() < sizeof(float) * kSaved * nh) throw llmrt::PluginError("swiglu: saved buffer too small", LLMRT_INTERNAL);
    v.a = reinterpret_cast<float*>(saved.data());
    v.b = v.a + nh, v.h = v.b + nh, v.da = v.h + nh, v.db = v.da + nh;
    return v;
  }

  const llmrt_host_api* host_;
  int64_t c_, h_global_, h_ = 0;
  double init_std_;
};

}  // namespace

LLMRT_PLUGIN("swiglu-example", "0.2.0") {
  registrar.add_layer<SwigluMlp>("example.swiglu_mlp", "0.2.0",
                                 "SwiGLU MLP: W2 (silu(W1 x) * W3 x), fp32 CPU, through the host's op table");
}
