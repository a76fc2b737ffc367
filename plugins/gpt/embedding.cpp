// gpt.embedding: x = wte[token] + wpe[position]. Tokens have no gradient, so the whole backward
// is the weight pass (backward_input writes nothing), which a zero-bubble schedule may defer.
#include "gpt/gpt_layers.h"
#include "gpt/gpt_scratch.h"

namespace llmrt::gpt {

std::vector<ConfigKey> Embedding::config_keys() {
  return {{"d_model", LLMRT_KEY_INT, std::nullopt, "width C of the residual stream"},
          {"vocab_size", LLMRT_KEY_INT, std::nullopt, "V, token ids are below it (filled from [model])"},
          {"seq_len", LLMRT_KEY_INT, std::nullopt, "longest sequence, rows of wpe (filled from [model])"},
          vocab_pad_key()};
}

Embedding::Embedding(const ComponentArgs& args)
    : host_(args.host),
      channels_(args.config.get_int("d_model")),
      vocab_(args.config.get_int("vocab_size")),
      max_seq_(args.config.get_int("seq_len")),
      dtype_(compute_dtype_of(args.layer)) {
  require_width(channels_, "d_model");
  require_positive(vocab_, "vocab_size");
  require_positive(max_seq_, "seq_len");
  padded_vocab_ = padded_vocab_of(vocab_, args.config.get_int("vocab_pad_multiple"));
}

// tokens: (B, T) i32 -> x: (B, T, C) f32
std::vector<llmrt_tensor> Embedding::infer_shapes(In in) {
  expect_count(in.size(), 1, "gpt.embedding inputs (tokens)");
  BatchShape shape = batch_shape(in[0], 2, "tokens");
  if (shape.seq > max_seq_) {
    throw PluginError("tokens: sequence length " + std::to_string(shape.seq) + " exceeds seq_len " +
                      std::to_string(max_seq_));
  }
  return {tensor_shape(static_cast<llmrt_dtype>(dtype_), {shape.batch, shape.seq, channels_})};
}

// Replicated under tensor parallelism: the embedding is small next to the blocks. wte has the
// padded vocabulary's rows; the host keeps rows [vocab_size, Vp) at zero (LLMRT_PARAM_VOCAB_ROWS)
// and no token id reaches them.
std::vector<ParamSpec> Embedding::param_specs() {
  ParamSpec wte{"wte", {padded_vocab_, channels_}, LLMRT_INIT_NORMAL, 0.02};
  wte.tie_name = "wte";
  wte.flags = LLMRT_PARAM_VOCAB_ROWS;
  ParamSpec wpe{"wpe", {max_seq_, channels_}, LLMRT_INIT_NORMAL, 0.02};
  return {wte, wpe};
}

// A gather and an add per element: no matmul FLOPs worth timing, but counted honestly.
llmrt_cost_hints Embedding::cost_hints(int64_t batch, int64_t seq) {
  const double elements = double(batch) * double(seq) * double(channels_);
  llmrt_cost_hints hints{};
  hints.forward_flops = elements;
  hints.backward_input_flops = 0;
  hints.backward_weight_flops = 2 * elements;
  hints.activation_bytes = double(batch) * double(seq) * sizeof(int32_t);  // the tokens
  hints.input_bytes = hints.activation_bytes;
  hints.selective_activation_bytes = hints.activation_bytes;  // nothing saved in any mode
  hints.parameter_bytes = double(padded_vocab_ + max_seq_) * double(channels_) * sizeof(float);
  hints.workspace_bytes = double(scratch::carve_bytes(scratch::embedding(batch * seq)));  // ids from the host
  return hints;
}

// tokens: (B, T) i32 in [0, V); params wte (Vp, C), wpe (seq_len, C); out x: (B, T, C) f32
void Embedding::forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved) {
  expect_count(in.size(), 1, "gpt.embedding inputs");
  expect_count(params.size(), 2, "gpt.embedding params");
  expect_count(out.size(), 1, "gpt.embedding outputs");
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) return forward_cuda(ctx, in, params, out);
#endif
  require_cpu(ctx, "gpt.embedding forward");
  BatchShape shape = batch_shape(in[0], 2, "tokens");
  if (shape.seq > max_seq_) throw PluginError("tokens: sequence longer than seq_len");
  const int32_t* tokens = cpu_data<int32_t>(in[0], "tokens");
  for (int64_t i = 0; i < shape.rows(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab_) {
      throw PluginError("tokens: id " + std::to_string(tokens[i]) + " outside [0, " + std::to_string(vocab_) + ")");
    }
  }
  Fp32Views views;
  Ops(host_, ctx).embedding_forward(views.write(out[0], "x"), tokens,
                                   weight_data(views, params[0], padded_vocab_ * channels_, "wte"),
                                   weight_data(views, params[1], max_seq_ * channels_, "wpe"), shape.batch, shape.seq,
                                   channels_, vocab_);
  views.commit();
}

// Token ids have no gradient: grad_in (if the host passes one) is left alone.
void Embedding::backward_input(const llmrt_call_ctx& ctx, In, In, In, Saved, Out, Out) {
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) return;  // nothing to do on any device
#endif
  require_cpu(ctx, "gpt.embedding backward_input");
}

// grad_out: (B, T, C); dwte (Vp, C) += (rows of ids only: the padded rows get nothing), dwpe (seq_len, C) +=
void Embedding::backward_weight(const llmrt_call_ctx& ctx, In grad_out, In in, In, Saved, Out grad_params) {
  expect_count(grad_out.size(), 1, "gpt.embedding output gradients");
  expect_count(in.size(), 1, "gpt.embedding inputs");
  expect_count(grad_params.size(), 2, "gpt.embedding parameter gradients");
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) return backward_weight_cuda(ctx, grad_out, in, grad_params);
#endif
  require_cpu(ctx, "gpt.embedding backward_weight");
  BatchShape shape = batch_shape(in[0], 2, "tokens");
  Fp32Views views;
  Ops(host_, ctx).embedding_backward(param_data(grad_params[0], padded_vocab_ * channels_, "dwte"),
                                    param_data(grad_params[1], max_seq_ * channels_, "dwpe"), views.read(grad_out[0], "dx"),
                                    cpu_data<int32_t>(in[0], "tokens"), shape.batch, shape.seq, channels_, vocab_);
}

}  // namespace llmrt::gpt
