// @NAME@: a pre-norm residual projection, y = x + W rmsnorm(x; g), as an llmrt layer plugin
// (written by `llmrt plugins new`; make it yours). It computes through the host's op table
// (llmrt/ops.hpp: the kernels the built-in GPT layers run) and is tensor-parallel: each tp rank
// holds a slice of W's input columns, projects that slice of the normalised input, and the
// host's all-reduce on the tp group sums the partial outputs.
#include <string>
#include <vector>

// It computes through the op table or reads the parameter table (ABI minor 1): an older host
// refuses the file at load.
#define LLMRT_PLUGIN_MIN_HOST_MINOR 1
#include <llmrt/ops.hpp>
#include <llmrt/plugin.hpp>

namespace {

class @CLASS@ : public llmrt::Layer {
 public:
  // backward_input also accumulates the parameter gradients (one pass, one all-reduce), and
  // forward repeats exactly from the same inputs, so the host may recompute it (train.recompute).
  static constexpr uint32_t kFlags = LLMRT_LAYER_FUSED_BACKWARD | LLMRT_LAYER_RECOMPUTE_FULL;

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
    if (!(eps_ > 0)) throw llmrt::PluginError("@NAME@: eps must be positive");
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

  // Global shapes. g (C) is whole on every tp rank (LLMRT_NO_SHARD); W (C, C) is split along
  // dimension 1, so tp rank r receives W[:, r*C/tp : (r+1)*C/tp] as a (C, C/tp) tensor.
  std::vector<llmrt::ParamSpec> param_specs() override {
    return {{"g", {c_}, LLMRT_INIT_ONES, 0.0, LLMRT_NO_SHARD}, {"w", {c_, c_}, LLMRT_INIT_NORMAL, init_std_, 1}};
  }

  llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) override {
    const double n = static_cast<double>(batch) * seq, matmul = 2.0 * n * c_ * local_;
    llmrt_cost_hints hints{};
    hints.forward_flops = matmul + 4.0 * n * c_;
    hints.backward_input_flops = 2 * matmul + 8.0 * n * c_;  // fused: the weight gradients too
    hints.input_bytes = 4.0 * n * c_;
    hints.activation_bytes = hints.input_bytes + static_cast<double>(saved_bytes(batch, seq));
    hints.parameter_bytes = 4.0 * (c_ + c_ * local_);
    return hints;
  }

  // Kept for backward: h = rmsnorm(x; g) (B*T, C) f32, then rstd (B*T,) f32.
  size_t saved_bytes(int64_t batch, int64_t seq) override { return sizeof(float) * batch * seq * (c_ + 1); }

  void forward(const llmrt_call_ctx& ctx, llmrt::In in, llmrt::In params, llmrt::Out out, llmrt::Saved saved) override {
    const Views v = views(ctx, in, params, saved);
    const llmrt::Ops ops(host_, ctx);
    float* y = llmrt::cpu_data<float>(out[0], "y");
    llmrt_norm_args norm{};
    norm.dtype = LLMRT_DTYPE_F32, norm.eps = eps_, norm.rows = v.rows, norm.channels = c_;
    norm.in = v.x, norm.weight = v.g, norm.out = v.h, norm.rstd = v.rstd;
    ops.run(&llmrt_ops::rmsnorm_forward, norm);                    // h = x * rstd * g
    gemm(ops, false, true, v.rows, c_, local_, v.h + v.first, c_, v.w, local_, y, c_, 0.f);  // y = h[:, slice] W^T
    if (ctx.tp_size > 1) ops.tp_sum(y, y, v.rows * c_);            // + the other ranks' slices
    ops.elementwise(LLMRT_EW_ADD, y, y, v.x, v.rows * c_);         // the residual, once
  }

  // grad_x is written (=); the parameter gradients are accumulated (+=), here (fused).
  void backward_input(const llmrt_call_ctx& ctx, llmrt::In grad_out, llmrt::In in, llmrt::In params,
                      llmrt::Saved saved, llmrt::Out grad_in, llmrt::Out grad_params) override {
    const Views v = views(ctx, in, params, saved);
    const llmrt::Ops ops(host_, ctx);
    const float* gy = llmrt::cpu_data<float>(grad_out[0], "grad_y");
    float* gx = llmrt::cpu_data<float>(grad_in[0], "grad_x");
    float* gg = llmrt::cpu_data<float>(grad_params[0], "grad_g");
    float* gw = llmrt::cpu_data<float>(grad_params[1], "grad_w");
    gemm(ops, true, false, c_, local_, v.rows, gy, c_, v.h + v.first, c_, gw, local_, 1.f);  // gW += gy^T h[:, slice]
    std::vector<float> gh(static_cast<size_t>(v.rows * c_), 0.f);  // dL/dh (B*T, C): this rank's columns ...
    gemm(ops, false, false, v.rows, local_, c_, gy, c_, v.w, local_, gh.data() + v.first, c_, 0.f);
    if (ctx.tp_size > 1) ops.tp_sum(gh.data(), gh.data(), v.rows * c_);  // ... and every other rank's
    ops.elementwise(LLMRT_EW_SCALE, gx, gy, nullptr, v.rows * c_);  // gx = gy through the residual
    llmrt_norm_args norm{};
    norm.dtype = LLMRT_DTYPE_F32, norm.eps = eps_, norm.rows = v.rows, norm.channels = c_;
    norm.in = v.x, norm.weight = v.g, norm.rstd = v.rstd, norm.d_out = gh.data(), norm.d_in = gx, norm.d_weight = gg;
    ops.run(&llmrt_ops::rmsnorm_backward, norm);                   // gx += ..., gg += ...
  }

 private:
  struct Views {
    const float *x, *g, *w;  // x (rows, C); g (C,); w (C, C/tp)
    float *h, *rstd;         // saved: (rows, C) and (rows,)
    int64_t rows;            // B*T
    int64_t first;           // this tp rank's first column of h
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
    if (saved.size() < sizeof(float) * v.rows * (c_ + 1)) {
      throw llmrt::PluginError("@NAME@: saved buffer too small", LLMRT_INTERNAL);
    }
    v.h = reinterpret_cast<float*>(saved.data());
    v.rstd = v.h + v.rows * c_;
    return v;
  }

  // c (m, n) = op(a) (m, k) @ op(b) (k, n) + beta * c, row-major, with the row strides as stored.
  static void gemm(const llmrt::Ops& ops, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, float beta) {
    llmrt_gemm_args args{};
    args.trans_a = trans_a ? LLMRT_TRANS : LLMRT_NO_TRANS, args.trans_b = trans_b ? LLMRT_TRANS : LLMRT_NO_TRANS;
    args.m = m, args.n = n, args.k = k, args.alpha = 1.f, args.beta = beta;
    args.a = a, args.lda = lda, args.b = b, args.ldb = ldb, args.c = c, args.ldc = ldc;
    args.dtype_ab = LLMRT_DTYPE_F32, args.dtype_c = LLMRT_DTYPE_F32;
    ops.run(&llmrt_ops::gemm, args);
  }

  const llmrt_host_api* host_;
  int64_t c_, local_ = 0;
  float eps_;
  double init_std_;
};

}  // namespace

LLMRT_PLUGIN("@NAME@", "0.1.0") {
  registrar.add_layer<@CLASS@>("@NAME@", "0.1.0", "pre-norm residual projection: x + W rmsnorm(x; g), on the op table");
}
