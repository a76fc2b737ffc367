// One layer instance under test with host tensors of its own: the inputs the test chose, its
// parameters (the tp slice of a global set), and calls of forward and the backward passes into
// fresh or pre-filled buffers. Every check of `llmrt plugins test` drives a layer through this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <llmrt/plugin.h>

#include "plugin/component_config.h"
#include "plugin/plugin_calls.h"
#include "util/status.h"

namespace llmrt::plugtest {

// A contiguous CPU tensor: f32 values, bf16 bits (--dtype bf16), or i32 ids (token ids, targets).
struct HostTensor {
  std::int32_t dtype = LLMRT_DTYPE_F32;
  std::vector<std::int64_t> shape;
  std::vector<float> values;   // f32
  std::vector<std::int32_t> ids;  // i32
  std::vector<std::uint16_t> halves;  // bf16

  std::size_t count() const;
  llmrt_tensor view();
  llmrt_tensor shape_only() const;  // data NULL, for infer_shapes
  static HostTensor zeros(const std::vector<std::int64_t>& shape);
  bool is_float() const { return dtype == LLMRT_DTYPE_F32 || dtype == LLMRT_DTYPE_BF16; }
  // An f32 tensor as bf16 (rounded to nearest-even) and back; other tensors unchanged.
  HostTensor as_bf16() const;
  HostTensor as_f32() const;
};

// What every instance of one test shares: the inputs and global parameters (drawn once, from
// the seed) and the weights r of the test's loss L = sum_i r_i * out_i (grad_out = r).
struct Problem {
  std::int64_t batch = 2, seq = 5;
  std::vector<HostTensor> inputs;          // as the layer's infer_shapes accepted them
  std::vector<HostTensor> global_params;   // in param_specs order, global shapes
  std::vector<std::string> param_names;
  std::vector<HostTensor> grad_out;        // r, one per output
  bool float_input = false;                // inputs[0] is an activation (has a gradient)
};

// Where a backward writes: grad_in (written), grad_params (accumulated into).
struct Gradients {
  std::vector<HostTensor> in;
  std::vector<HostTensor> params;
};

enum class BackwardPasses { kBoth, kInputOnly, kWeightOnly };

class LayerRig {
 public:
  // Creates the instance with `context` (tp_rank/tp_size/recompute/compute_dtype) and reads its
  // parameter specs; `ctx` is handed to every call.
  static Result<LayerRig> create(const Component& component, const ResolvedConfig& config,
                                 const llmrt_layer_context& context, const llmrt_call_ctx& ctx);

  const Component& component() const { return instance_.component(); }
  const std::vector<llmrt_param_spec>& specs() const { return specs_; }
  bool fused() const { return !has_backward_weight(component()); }

  // The first input list infer_shapes accepts, among: activation (B, T, C) f32 with and without
  // targets (B, T) i32, token ids (B, T) i32 with and without targets; C = `width`.
  Status choose_inputs(Problem& problem, std::int64_t width, std::int64_t vocab, std::mt19937& rng);
  // Takes the problem's inputs and this rank's slice of its global parameters.
  Status bind(const Problem& problem);
  const ComponentInstance& instance() const { return instance_; }
  // Outputs (shape and dtype, no data) as infer_shapes declares them for the bound inputs.
  Result<std::vector<llmrt_tensor>> declared_outputs() const;
  // Output shapes as infer_shapes declares them for the bound inputs.
  Result<std::vector<std::vector<std::int64_t>>> output_shapes() const;
  std::size_t saved_bytes() const { return saved_bytes_; }

  // Fresh outputs of the declared shapes, every element the sentinel, plus kTail sentinels past
  // the end (a forward that writes past its declared shape changes them).
  Result<std::vector<HostTensor>> fresh_outputs() const;
  // Zeroed gradient buffers: one per float input, one per parameter (local shapes), each with
  // kTail sentinels past its end.
  Gradients fresh_gradients() const;

  Status forward(std::vector<HostTensor>& out, std::vector<std::byte>& saved);
  Status backward(std::vector<HostTensor>& grad_out, std::vector<std::byte>& saved, Gradients& grads,
                  BackwardPasses passes = BackwardPasses::kBoth);

  std::vector<HostTensor>& inputs() { return inputs_; }
  std::vector<HostTensor>& params() { return params_; }

  static constexpr std::size_t kTail = 16;
  static float sentinel();  // a NaN with a payload no arithmetic makes

 private:
  LayerRig(ComponentInstance instance, std::vector<llmrt_param_spec> specs, llmrt_layer_context context,
           llmrt_call_ctx ctx);
  std::vector<llmrt_tensor> views(std::vector<HostTensor>& tensors) const;

  ComponentInstance instance_;
  std::vector<llmrt_param_spec> specs_;
  llmrt_layer_context context_;
  llmrt_call_ctx ctx_;
  std::vector<HostTensor> inputs_, params_;
  std::int64_t batch_ = 0, seq_ = 0;
  std::size_t saved_bytes_ = 0;
};

// The global shape of a parameter spec, and its local shape on `tp_rank` of `tp_size`.
std::vector<std::int64_t> global_shape(const llmrt_param_spec& spec);
std::vector<std::int64_t> local_shape(const llmrt_param_spec& spec, int tp_size);

// Values a gradient check can see through: ones-initialised parameters (norm gains) near 1,
// the others uniform in [-0.3, 0.3] (zeros-initialised biases too, so that they matter).
HostTensor random_param(const llmrt_param_spec& spec, std::mt19937& rng);

}  // namespace llmrt::plugtest
