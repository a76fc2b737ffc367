// gpt.block, GPT-2's transformer block: y = x2 + MLP(LN2(x2)), x2 = x + Attn(LN1(x)). Config,
// parameters, costs, the saved-buffer layout and the forward pass; backward in block_backward.cpp.
// Tensor parallelism is Megatron's: qkv and fc are column-parallel (each rank owns its heads' q,
// k, v rows and a quarter-width slice of fc), proj and fc2 row-parallel (input columns); the
// partial row-parallel outputs are summed across the group before the replicated bias.
#include "gpt/gpt_layers.h"
#include "gpt/gpt_scratch.h"

#include <cmath>

namespace llmrt::gpt {

namespace {
constexpr const auto& kParamNames = kBlockParamNames;
}  // namespace

std::vector<ConfigKey> Block::config_keys() {
  return {{"d_model", LLMRT_KEY_INT, std::nullopt, "width C of the residual stream"},
          {"heads", LLMRT_KEY_INT, std::nullopt, "attention heads; must divide d_model"},
          {"n_layer_for_init", LLMRT_KEY_INT, "12",
           "block count L of the model: proj_w and fc2_w start at normal(0.02 / sqrt(2 L))"}};
}

Block::Block(const ComponentArgs& args)
    : host_(args.host),
      heads_total_(args.config.get_int("heads")),
      n_layer_(args.config.get_int("n_layer_for_init")),
      tp_(tp_size_of(args.layer)),
      dtype_(compute_dtype_of(args.layer)),
      selective_(LLMRT_HAS_FIELD(&args.layer, llmrt_layer_context, recompute) &&
                 args.layer.recompute == LLMRT_RECOMPUTE_SELECTIVE) {
  if (LLMRT_HAS_FIELD(&args.layer, llmrt_layer_context, recompute) && args.layer.recompute != LLMRT_RECOMPUTE_NONE &&
      !selective_) {
    throw PluginError("recompute mode " + std::to_string(args.layer.recompute) +
                      " asked at create: a layer is created with none or selective (full is the host's work)");
  }
  const int64_t channels = args.config.get_int("d_model");
  require_width(channels, "d_model");
  require_positive(heads_total_, "heads");
  require_positive(n_layer_, "n_layer_for_init");
  if (channels % heads_total_ != 0) {
    throw PluginError("heads = " + std::to_string(heads_total_) + " does not divide d_model = " +
                      std::to_string(channels));
  }
  if (heads_total_ % tp_ != 0) {
    throw PluginError("tensor-parallel size " + std::to_string(tp_) + " does not divide heads = " +
                      std::to_string(heads_total_));
  }
  dims_ = BlockDims{channels, heads_total_ / tp_, channels / tp_, 4 * channels / tp_};
}

// x: (B, T, C) -> y: (B, T, C)
std::vector<llmrt_tensor> Block::infer_shapes(In in) {
  expect_count(in.size(), 1, "gpt.block inputs (x)");
  BatchShape shape = batch_shape(in[0], 3, "x");
  if (in[0].shape[2] != dims_.channels) {
    throw PluginError("x: last dimension " + std::to_string(in[0].shape[2]) + " is not d_model = " +
                      std::to_string(dims_.channels));
  }
  return {tensor_shape(static_cast<llmrt_dtype>(dtype_), {shape.batch, shape.seq, dims_.channels})};
}

std::vector<ParamSpec> Block::param_specs() {
  const int64_t c = dims_.channels;
  // GPT-2 scales the two projections that write into the residual stream by 1/sqrt(2 L), so the
  // stream's variance does not grow with depth.
  const double residual_scale = 0.02 / std::sqrt(2.0 * double(n_layer_));
  std::vector<ParamSpec> specs = {
      {kParamNames[kLn1W], {c}, LLMRT_INIT_ONES, 0},
      {kParamNames[kLn1B], {c}, LLMRT_INIT_ZEROS, 0},
      {kParamNames[kQkvW], {3, c, c}, LLMRT_INIT_NORMAL, 0.02, 1},  // (3, C, C): [q|k|v] rows, heads split
      {kParamNames[kQkvB], {3, c}, LLMRT_INIT_ZEROS, 0, 1},
      {kParamNames[kProjW], {c, c}, LLMRT_INIT_NORMAL, residual_scale, 1},  // row-parallel: input columns
      {kParamNames[kProjB], {c}, LLMRT_INIT_ZEROS, 0},
      {kParamNames[kLn2W], {c}, LLMRT_INIT_ONES, 0},
      {kParamNames[kLn2B], {c}, LLMRT_INIT_ZEROS, 0},
      {kParamNames[kFcW], {4 * c, c}, LLMRT_INIT_NORMAL, 0.02, 0},  // column-parallel: output rows
      {kParamNames[kFcB], {4 * c}, LLMRT_INIT_ZEROS, 0, 0},
      {kParamNames[kFc2W], {c, 4 * c}, LLMRT_INIT_NORMAL, residual_scale, 1},  // row-parallel
      {kParamNames[kFc2B], {c}, LLMRT_INIT_ZEROS, 0},
  };
  // No weight decay on the LayerNorm gains and biases and on every bias (qkv_b is 2-D here,
  // (3, C), where nanoGPT's is 1-D: the flag keeps it out of decay the same).
  for (size_t param : {kLn1W, kLn1B, kQkvB, kProjB, kLn2W, kLn2B, kFcB, kFc2B}) specs[param].flags = LLMRT_PARAM_NO_DECAY;
  return specs;
}

// Elements of this rank's slice of parameter `param`.
int64_t Block::local_numel(size_t param) const {
  const int64_t c = dims_.channels, l = dims_.local, h = dims_.hidden;
  switch (param) {
    case kQkvW: return 3 * l * c;
    case kQkvB: return 3 * l;
    case kProjW: return c * l;
    case kFcW: return h * c;
    case kFcB: return h;
    case kFc2W: return c * h;
    default: return c;  // LayerNorm weights and the replicated biases
  }
}

std::string Block::supports(const llmrt_device& device, llmrt_dtype dtype) {
  const int64_t head_size = dims_.local / dims_.heads;
  if (device.type == LLMRT_DEVICE_CUDA && (head_size > kCudaMaxHeadSize || head_size % 8 != 0)) {
    return "on CUDA the attention kernels take head sizes d_model / heads that are multiples of 8 up to " +
           std::to_string(kCudaMaxHeadSize) + ", found " + std::to_string(head_size);
  }
  return gpt_supports(device, dtype);
}

// Per-rank costs. Attention is counted as if it were not causal (4 B T^2 C/tp forward), an
// upper bound the planner can rely on; the backward of attention costs twice its forward.
llmrt_cost_hints Block::cost_hints(int64_t batch, int64_t seq) {
  const double rows = double(batch) * double(seq);
  const double c = double(dims_.channels), l = double(dims_.local), h = double(dims_.hidden);
  const double matmul = 2 * rows * (c * 3 * l + l * c + c * h + h * c);
  const double attention = 4 * double(batch) * double(seq) * double(seq) * l;
  llmrt_cost_hints hints{};
  hints.forward_flops = matmul + attention;
  hints.backward_input_flops = matmul + 2 * attention;
  hints.backward_weight_flops = matmul;
  hints.activation_bytes = double(saved_bytes(batch, seq));  // in this instance's mode
  SavedRegions selective(nullptr, dtype_);
  block_layout(selective, dims_, batch, seq, /*selective=*/true);
  hints.selective_activation_bytes = double(selective.bytes());
  // backward_weight's remade ln1 and ln2 (4 FLOPs per element: subtract, two multiplies, add)
  // and fc_act (GELU, counted as 8 per element).
  hints.selective_recompute_flops = 2 * 4 * rows * c + 8 * rows * h;
  hints.input_bytes = double(region_bytes(batch * seq * dims_.channels, dtype_));  // x (B, T, C)
  double params = 0;
  for (size_t p = 0; p < kBlockParams; ++p) params += double(local_numel(p));
  hints.parameter_bytes = params * sizeof(float);
  // The CUDA passes' carve, the larger of the two modes (like selective_activation_bytes, the
  // same whatever mode the instance runs in: selective only adds regions).
  hints.workspace_bytes = double(scratch::largest({scratch::block_forward(dims_, dtype_, tp_, true, batch, seq),
                                                   scratch::block_backward_input(dims_, dtype_, tp_, batch, seq),
                                                   scratch::block_backward_weight(dims_, dtype_, true, batch, seq)}));
  return hints;
}

size_t Block::saved_bytes(int64_t batch, int64_t seq) {
  SavedRegions counter(nullptr, dtype_);
  block_layout(counter, dims_, batch, seq, selective_);
  return counter.bytes();
}

void Block::point_selective(BlockSaved& s, int64_t rows) const {
  static thread_local std::vector<float> scratch;
  const size_t nc = size_t(rows * dims_.channels), nh = size_t(rows * dims_.hidden);
  if (scratch.size() < 2 * nc + nh) scratch.resize(2 * nc + nh);
  s.ln1 = scratch.data(), s.ln2 = scratch.data() + nc, s.fc_act = scratch.data() + 2 * nc;
}

std::vector<const float*> Block::param_pointers(Fp32Views& views, In params) const {
  expect_count(params.size(), kBlockParams, "gpt.block params");
  std::vector<const float*> pointers(kBlockParams);
  for (size_t p = 0; p < kBlockParams; ++p) {
    pointers[p] = weight_data(views, params[p], local_numel(p), std::string("gpt.block ") + kParamNames[p]);
  }
  return pointers;
}

std::vector<float*> Block::grad_pointers(Out grads) const {
  expect_count(grads.size(), kBlockParams, "gpt.block parameter gradients");
  std::vector<float*> pointers(kBlockParams);
  for (size_t p = 0; p < kBlockParams; ++p) {
    pointers[p] = param_data(grads[p], local_numel(p), std::string("gpt.block d") + kParamNames[p]);
  }
  return pointers;
}

// x: (B, T, C) -> y: (B, T, C); saved as laid out above. Every stored activation is rounded to
// the compute dtype where it is made, so the pass continues with what a 16-bit buffer holds.
void Block::forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) return forward_cuda(ctx, in, params, out, saved);
#endif
  require_cpu(ctx, "gpt.block forward");
  expect_count(in.size(), 1, "gpt.block inputs");
  expect_count(out.size(), 1, "gpt.block outputs");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  SavedRegions regions(saved.data(), dtype_);
  BlockSaved s = saved_regions(regions, saved, shape.batch, shape.seq);
  if (selective_) point_selective(s, shape.rows());  // ln1, ln2, fc_act: not saved
  Fp32Views views;
  const std::vector<const float*> p = param_pointers(views, params);
  const float* x = views.read(in[0], "x");
  float* y = views.write(out[0], "y");
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  const Ops ops(host_, ctx);  // the host's op table: the same kernels a third party's layer gets

  // Attention branch; proj's partial sum lands in scratch, the group's sum in x2.
  std::vector<float> partial(size_t(n) * c);  // (N, C) scratch for the row-parallel outputs
  ops.layernorm_forward(s.ln1, s.mean1, s.rstd1, x, p[kLn1W], p[kLn1B], n, c);
  regions.round(s.ln1, int64_t(n) * c);
  ops.linear_forward(s.qkv, s.ln1, p[kQkvW], p[kQkvB], n, c, 3 * l);
  regions.round(s.qkv, int64_t(n) * 3 * l);
  ops.attention_forward(s.att, s.lse, s.qkv, int(shape.batch), int(shape.seq), l, int(dims_.heads));
  regions.round(s.att, int64_t(n) * l);
  ops.linear_forward(partial.data(), s.att, p[kProjW], nullptr, n, l, c);
  tp_all_reduce(host_, ctx, partial.data(), s.x2, partial.size(), "gpt.block proj");
  ops.elementwise(LLMRT_EW_ADD_BIAS, s.x2, x, nullptr, int64_t(n) * c, 1.0f, p[kProjB], c);
  regions.round(s.x2, int64_t(n) * c);

  // MLP branch, the same pattern.
  ops.layernorm_forward(s.ln2, s.mean2, s.rstd2, s.x2, p[kLn2W], p[kLn2B], n, c);
  regions.round(s.ln2, int64_t(n) * c);
  ops.linear_forward(s.fc_pre, s.ln2, p[kFcW], p[kFcB], n, c, h);
  regions.round(s.fc_pre, int64_t(n) * h);
  ops.activation_forward(LLMRT_ACT_GELU, s.fc_act, s.fc_pre, int64_t(n) * h);
  regions.round(s.fc_act, int64_t(n) * h);
  ops.linear_forward(partial.data(), s.fc_act, p[kFc2W], nullptr, n, h, c);
  tp_all_reduce(host_, ctx, partial.data(), y, partial.size(), "gpt.block fc2");
  ops.elementwise(LLMRT_EW_ADD_BIAS, y, s.x2, nullptr, int64_t(n) * c, 1.0f, p[kFc2B], c);
  regions.store(0, s.forward_regions);
  views.commit();
}

}  // namespace llmrt::gpt
