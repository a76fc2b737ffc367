// GPT-2's transformer block as a third party would write it: pre-LayerNorm causal attention and
// a GELU MLP, Megatron tensor parallel, fp32 on the CPU, every FLOP through the host's op table
// (llmrt/ops.hpp). The same parameters, saved state and call order as the built-in gpt.block, so
// it gives the built-in block's numbers and, the point of it, runs as fast (bench/bench_op_table.cpp).
//   y = x2 + fc2(gelu(fc(ln2(x2)))),  x2 = x + proj(attn(qkv(ln1(x))))
// It computes through the op table or reads the parameter table (ABI minor 1): an older host
// refuses the file at load.
#define LLMRT_PLUGIN_MIN_HOST_MINOR 1
#include <llmrt/ops.hpp>
#include <llmrt/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using llmrt::In;
using llmrt::Out;
using llmrt::Saved;

enum Param { kLn1W, kLn1B, kQkvW, kQkvB, kProjW, kProjB, kLn2W, kLn2B, kFcW, kFcB, kFc2W, kFc2B, kParams };

class GptBlock : public llmrt::Layer {
 public:
  static std::vector<llmrt::ConfigKey> config_keys() {
    return {{"d_model", LLMRT_KEY_INT, std::nullopt, "width C of the residual stream"},
            {"heads", LLMRT_KEY_INT, std::nullopt, "attention heads; must divide d_model"},
            {"n_layer_for_init", LLMRT_KEY_INT, "12", "block count L: proj_w and fc2_w start at normal(0.02 / sqrt(2 L))"}};
  }

  explicit GptBlock(const llmrt::ComponentArgs& args)
      : host_(args.host), c_(args.config.get_int("d_model")), heads_(args.config.get_int("heads")),
        layers_(args.config.get_int("n_layer_for_init")) {
    llmrt::Ops::require(host_);  // an older host refuses the layer here, at create
    const int64_t tp = args.layer.tp_size > 0 ? args.layer.tp_size : 1;
    if (c_ <= 0 || heads_ <= 0 || layers_ <= 0) throw llmrt::PluginError("d_model, heads and n_layer_for_init must be positive");
    if (c_ % heads_ != 0 || heads_ % tp != 0) {
      throw llmrt::PluginError("heads = " + std::to_string(heads_) + " must divide d_model = " + std::to_string(c_) +
                               " and be divisible by tp = " + std::to_string(tp));
    }
    nh_ = heads_ / tp, l_ = c_ / tp, h_ = 4 * c_ / tp;
  }

  std::vector<llmrt_tensor> infer_shapes(In in) override {  // x (B, T, C) -> y (B, T, C)
    llmrt::expect_count(in.size(), 1, "example.gpt_block inputs");
    if (in[0].rank != 3 || in[0].shape[2] != c_) throw llmrt::PluginError("x: expected (B, T, d_model)");
    return {in[0]};
  }

  std::vector<llmrt::ParamSpec> param_specs() override {
    const double scaled = 0.02 / std::sqrt(2.0 * double(layers_));
    return {{"ln1_w", {c_}, LLMRT_INIT_ONES, 0},           {"ln1_b", {c_}, LLMRT_INIT_ZEROS, 0},
            {"qkv_w", {3, c_, c_}, LLMRT_INIT_NORMAL, 0.02, 1}, {"qkv_b", {3, c_}, LLMRT_INIT_ZEROS, 0, 1},
            {"proj_w", {c_, c_}, LLMRT_INIT_NORMAL, scaled, 1}, {"proj_b", {c_}, LLMRT_INIT_ZEROS, 0},
            {"ln2_w", {c_}, LLMRT_INIT_ONES, 0},           {"ln2_b", {c_}, LLMRT_INIT_ZEROS, 0},
            {"fc_w", {4 * c_, c_}, LLMRT_INIT_NORMAL, 0.02, 0}, {"fc_b", {4 * c_}, LLMRT_INIT_ZEROS, 0, 0},
            {"fc2_w", {c_, 4 * c_}, LLMRT_INIT_NORMAL, scaled, 1}, {"fc2_b", {c_}, LLMRT_INIT_ZEROS, 0}};
  }

  llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) override {
    const double rows = double(batch) * double(seq), c = double(c_), l = double(l_), h = double(h_);
    const double matmul = 2 * rows * (c * 3 * l + l * c + c * h + h * c), attention = 4 * rows * double(seq) * l;
    llmrt_cost_hints hints{};
    hints.forward_flops = matmul + attention;
    hints.backward_input_flops = matmul + 2 * attention;
    hints.backward_weight_flops = matmul;
    hints.activation_bytes = double(saved_bytes(batch, seq));
    hints.parameter_bytes = 4.0 * (4 * c + 3 * l * c + 3 * l + c * l + 2 * c * h + h + 2 * c);
    return hints;
  }

  size_t saved_bytes(int64_t batch, int64_t seq) override { return sizeof(float) * layout(nullptr, batch * seq).floats; }

  void forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) override {
    const int64_t n = rows(in), c = c_, l = l_, h = h_;
    const State s = state(saved, n);
    const P p = weights(params);
    const float* x = llmrt::cpu_data<float>(in[0], "x");
    float* y = llmrt::cpu_data<float>(out[0], "y");
    const llmrt::Ops ops(host_, ctx);
    std::vector<float> partial(n * c);  // (N, C) a row-parallel output before the group's sum
    ops.layernorm_forward(s.ln1, s.mean1, s.rstd1, x, p[kLn1W], p[kLn1B], n, c);
    ops.linear_forward(s.qkv, s.ln1, p[kQkvW], p[kQkvB], n, c, 3 * l);
    ops.attention_forward(s.att, s.lse, s.qkv, in[0].shape[0], in[0].shape[1], l, nh_);
    ops.linear_forward(partial.data(), s.att, p[kProjW], nullptr, n, l, c);
    ops.tp_sum(partial.data(), s.x2, n * c);
    ops.elementwise(LLMRT_EW_ADD_BIAS, s.x2, x, nullptr, n * c, 1.0f, p[kProjB], c);  // x2 += x + proj_b
    ops.layernorm_forward(s.ln2, s.mean2, s.rstd2, s.x2, p[kLn2W], p[kLn2B], n, c);
    ops.linear_forward(s.fc_pre, s.ln2, p[kFcW], p[kFcB], n, c, h);
    ops.activation_forward(LLMRT_ACT_GELU, s.fc_act, s.fc_pre, n * h);
    ops.linear_forward(partial.data(), s.fc_act, p[kFc2W], nullptr, n, h, c);
    ops.tp_sum(partial.data(), y, n * c);
    ops.elementwise(LLMRT_EW_ADD_BIAS, y, s.x2, nullptr, n * c, 1.0f, p[kFc2B], c);  // y += x2 + fc2_b
  }

  // dy -> dx (written); leaves each linear's output gradient in the saved state for backward_weight.
  void backward_input(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in, Out) override {
    const int64_t n = rows(in), c = c_, l = l_, h = h_;
    const State s = state(saved, n);
    const P p = weights(params);
    const float* x = llmrt::cpu_data<float>(in[0], "x");
    const float* dy = llmrt::cpu_data<float>(grad_out[0], "dy");
    float* dx = llmrt::cpu_data<float>(grad_in[0], "dx");
    const llmrt::Ops ops(host_, ctx);
    std::vector<float> partial(n * c, 0.0f), branch(n * h, 0.0f);
    ops.linear_backward_input(branch.data(), dy, p[kFc2W], n, h, c);  // MLP
    std::fill_n(s.d_fc_pre, n * h, 0.0f);
    ops.activation_backward(LLMRT_ACT_GELU, s.d_fc_pre, s.fc_pre, branch.data(), n * h);
    ops.linear_backward_input(partial.data(), s.d_fc_pre, p[kFcW], n, c, h);
    ops.tp_sum(partial.data(), s.d_ln2, n * c);
    std::copy_n(dy, n * c, s.d_x2);  // the residual path
    ops.layernorm_backward(s.d_x2, nullptr, nullptr, s.d_ln2, s.x2, p[kLn2W], s.mean2, s.rstd2, n, c);
    std::fill_n(branch.data(), n * l, 0.0f);  // attention
    ops.linear_backward_input(branch.data(), s.d_x2, p[kProjW], n, l, c);
    std::fill_n(s.d_qkv, n * 3 * l, 0.0f);
    ops.attention_backward(s.d_qkv, branch.data(), s.qkv, s.att, s.lse, in[0].shape[0], in[0].shape[1], l, nh_);
    std::fill(partial.begin(), partial.end(), 0.0f);
    ops.linear_backward_input(partial.data(), s.d_qkv, p[kQkvW], n, c, 3 * l);
    ops.tp_sum(partial.data(), s.d_ln1, n * c);
    std::copy_n(s.d_x2, n * c, dx);
    ops.layernorm_backward(dx, nullptr, nullptr, s.d_ln1, x, p[kLn1W], s.mean1, s.rstd1, n, c);
  }

  void backward_weight(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_params) override {
    const int64_t n = rows(in), c = c_, l = l_, h = h_;
    const State s = state(saved, n);
    const P p = weights(params);
    llmrt::expect_count(grad_params.size(), kParams, "example.gpt_block parameter gradients");
    float* g[kParams];
    for (int i = 0; i < kParams; ++i) g[i] = llmrt::cpu_data<float>(grad_params[i], "parameter gradient");
    const float* x = llmrt::cpu_data<float>(in[0], "x");
    const float* dy = llmrt::cpu_data<float>(grad_out[0], "dy");
    const llmrt::Ops ops(host_, ctx);
    ops.linear_backward_weight(g[kFc2W], g[kFc2B], dy, s.fc_act, n, h, c);
    ops.linear_backward_weight(g[kFcW], g[kFcB], s.d_fc_pre, s.ln2, n, c, h);
    ops.layernorm_backward(nullptr, g[kLn2W], g[kLn2B], s.d_ln2, s.x2, p[kLn2W], s.mean2, s.rstd2, n, c);
    ops.linear_backward_weight(g[kProjW], g[kProjB], s.d_x2, s.att, n, l, c);
    ops.linear_backward_weight(g[kQkvW], g[kQkvB], s.d_qkv, s.ln1, n, c, 3 * l);
    ops.layernorm_backward(nullptr, g[kLn1W], g[kLn1B], s.d_ln1, x, p[kLn1W], s.mean1, s.rstd1, n, c);
  }

 private:
  using P = std::vector<const float*>;
  // The saved state, fp32: forward's activations and statistics, then backward_input's gradients.
  struct State {
    float *ln1, *mean1, *rstd1, *qkv, *att, *lse, *x2, *ln2, *mean2, *rstd2, *fc_pre, *fc_act;
    float *d_x2, *d_fc_pre, *d_qkv, *d_ln1, *d_ln2;
    size_t floats;
  };
  State layout(float* base, int64_t n) const {
    State s{};
    size_t used = 0;
    const auto take = [&](int64_t count) { float* at = base ? base + used : nullptr; used += size_t(count); return at; };
    s.ln1 = take(n * c_), s.mean1 = take(n), s.rstd1 = take(n), s.qkv = take(n * 3 * l_), s.att = take(n * l_);
    s.lse = take(n * nh_), s.x2 = take(n * c_), s.ln2 = take(n * c_), s.mean2 = take(n), s.rstd2 = take(n);
    s.fc_pre = take(n * h_), s.fc_act = take(n * h_);
    s.d_x2 = take(n * c_), s.d_fc_pre = take(n * h_), s.d_qkv = take(n * 3 * l_), s.d_ln1 = take(n * c_), s.d_ln2 = take(n * c_);
    s.floats = used;
    return s;
  }
  State state(Saved saved, int64_t n) const {
    const State s = layout(reinterpret_cast<float*>(saved.data()), n);
    if (saved.size() < s.floats * sizeof(float)) throw llmrt::PluginError("saved buffer too small", LLMRT_INTERNAL);
    return s;
  }
  int64_t rows(In in) const {
    llmrt::expect_count(in.size(), 1, "example.gpt_block inputs");
    return in[0].shape[0] * in[0].shape[1];
  }
  P weights(In params) const {
    llmrt::expect_count(params.size(), kParams, "example.gpt_block params");
    P p(kParams);
    for (int i = 0; i < kParams; ++i) p[i] = llmrt::cpu_data<float>(params[i], "parameter");
    return p;
  }

  const llmrt_host_api* host_;
  int64_t c_, heads_, layers_, nh_ = 0, l_ = 0, h_ = 0;
};

}  // namespace

LLMRT_PLUGIN("gpt-block-example", "0.1.0") {
  registrar.add_layer<GptBlock>("example.gpt_block", "0.1.0", "GPT-2 block on the host's op table, fp32 CPU");
}
