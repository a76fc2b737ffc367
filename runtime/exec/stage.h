// One pipeline stage's compute: its layers, its parameters, and per-microbatch activations.
// The executor drives it action by action (FORWARD, BACKWARD_INPUT, BACKWARD_WEIGHT); a
// microbatch's activations are freed as soon as its weight gradients are done.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "device/buffer.h"
#include "exec/layer_checks.h"
#include "exec/model_layers.h"
#include "exec/param_store.h"
#include "plugin/host_api.h"
#include "util/status.h"

namespace llmrt {

// Where the stage sits in the model: the first stage reads token ids, the last one the
// targets and produces the loss.
struct StagePlacement {
  bool first = true;
  bool last = true;
  int tp_rank = 0;
  int tp_size = 1;
  llmrt_comm* tp_comm = nullptr;
  PluginJobState* job = nullptr;  // what the calls' host_private carries (the job's RNG stream)
  std::vector<std::int64_t> input_shape;  // a non-first stage's input activation, e.g. (B, T, C)
  // What activations and their gradients are stored as (the training precision's compute
  // dtype): between layers, in messages between stages. The loss and its gradient are f32.
  std::int32_t activation_dtype = LLMRT_DTYPE_F32;
  // The rank's compute stream (exec/stage_streams.h; nullptr on the CPU): every layer call
  // (llmrt_call_ctx.stream), copy and conversion of the stage is queued on it.
  Stream* stream = nullptr;
};

class Stage {
 public:
  // batch, seq: one microbatch's (B, T). Infers every layer's shapes to size the buffers.
  // `params` holds this rank's parameters (all its stages'); the stage's layers are its slots
  // first_slot, first_slot + 1, ... It must outlive the stage.
  static Result<Stage> build(std::vector<LayerSlot> slots, ParamStore& params, std::size_t first_slot,
                             StagePlacement placement, std::int64_t batch, std::int64_t seq);

  // First stage: tokens (B, T) i32 in host memory. Other stages: `activation`, the previous
  // stage's output on this rank's device (copied; nullptr on the first stage). Last stage:
  // targets (B, T) i32 in host memory as well.
  Status forward(int microbatch, std::span<const std::int32_t> tokens, const Buffer* activation,
                 std::span<const std::int32_t> targets);
  // Last stage: grad_output = (1) f32 {dloss}, the loss scale (1/microbatches). Others: the
  // gradient w.r.t. this stage's output, received from the next stage. On the rank's device.
  // weights_too: each layer's backward_weight runs right after its backward_input (the schedule
  // has W next for this microbatch), so a recomputed layer's saved state is freed layer by layer;
  // backward_weight then only frees the microbatch.
  Status backward_input(int microbatch, const Buffer& grad_output, bool weights_too = false);
  Status backward_weight(int microbatch);  // frees the microbatch
  void release(int microbatch);            // frees it after a forward-only pass (validation)

  // Hands the microbatch's output (non-last stage, after forward) or input gradient (non-first
  // stage, after backward_input) to the caller without a copy, taking `replacement` in its place.
  // Neither is needed by the stage's own passes.
  Buffer exchange_output(int microbatch, Buffer replacement);
  Buffer exchange_input_grad(int microbatch, Buffer replacement);

  const Buffer& loss(int microbatch) const;                  // last stage, after forward: (1) f32, on the device
  const Buffer& output(int microbatch) const;                // non-last stage, after forward
  const Buffer& input_grad(int microbatch) const;            // non-first stage, after backward_input
  std::size_t output_elements() const;                       // what a send of the output carries
  std::size_t input_elements() const;                        // what the activation receive carries
  std::int32_t activation_dtype() const { return placement_.activation_dtype; }  // of both messages
  Stream* stream() const { return placement_.stream; }  // the compute stream (nullptr on the CPU)

  // Called when a layer has added one microbatch's weight gradients (after its backward_weight,
  // or its backward_input for a layer that fuses both): the data-parallel all-reduce of a
  // layer starts once every microbatch has. Arguments: the layer's slot in the ParamStore.
  using WeightsDone = std::function<Status(std::size_t slot)>;
  void on_weights_done(WeightsDone callback) { weights_done_ = std::move(callback); }
  // train.detect_anomaly / train.guard_params: checks after every layer call (exec/layer_checks.h).
  void set_call_checks(LayerCallChecks checks) { checks_ = checks; }
  // train.cuda_graph: while watching, a layer call that moves the job's RNG offset is an error
  // naming the layer (a graph replay would repeat its draws). Set around the capture region.
  void watch_rng(bool on);

  ParamStore& params() { return *params_; }
  const ParamStore& params() const { return *params_; }
  const std::vector<std::int64_t>& output_shape() const { return shapes_.back().output; }
  const std::vector<LayerSlot>& layers() const { return layers_; }
  std::size_t live_microbatches() const { return live_.size(); }
  // Full recompute (stage_recompute.cpp): whether some layer's forward reruns before its
  // backward, and the most bytes of saved state (per-microbatch saved buffers, live, pooled or
  // kept for reuse) the stage has held at once since it was built.
  bool recomputes() const;
  std::size_t saved_bytes_held() const;
  std::size_t peak_saved_bytes() const { return peak_saved_bytes_; }

 private:
  struct LayerShapes {
    std::vector<std::int64_t> input, output;  // the activation in and out
    std::size_t saved_bytes = 0;
  };
  // Every buffer on the rank's device.
  struct MicrobatchState {
    Buffer tokens, targets;            // (B, T) i32
    std::vector<Buffer> inputs;        // [layer] its activation input (empty for token input)
    std::vector<Buffer> saved;         // [layer] u8, what forward keeps for the backward passes
    std::vector<Buffer> grad_outputs;  // [layer] gradient w.r.t. its output
    Buffer output;                     // the last layer's output (loss or activation)
    Buffer input_grad;                 // gradient w.r.t. the stage input
    // [layer] the job's RNG offsets its forward began and ended at: a rerun replays them.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> rng_draws;
    bool weights_done = false;         // backward_input ran with weights_too
  };

  Stage(std::vector<LayerSlot> slots, ParamStore& params, std::size_t first_slot, StagePlacement placement);
  Status infer_layer_shapes(std::int64_t batch, std::int64_t seq);
  std::vector<llmrt_tensor> layer_inputs(std::size_t layer, MicrobatchState& state);
  llmrt_call_ctx call_context(int microbatch) const;
  std::int32_t output_dtype(std::size_t layer) const;
  Status take_message(Buffer& into, const Buffer& message);
  Status checked_call(const LayerSlot& layer, std::string_view pass, int microbatch,
                      std::span<const llmrt_tensor> outputs, std::span<const llmrt_tensor> grad_params,
                      const ParamStore& params, ComputeDevice& device);
  Status upload_tokens(Buffer& buffer, std::span<const std::int32_t> tokens);
  MicrobatchState& state_of(int microbatch, const char* pass);
  Status backward_layer_weight(std::size_t layer, int microbatch, MicrobatchState& state);
  std::span<std::byte> saved_of(std::size_t layer, MicrobatchState& state);

  // Full recompute (stage_recompute.cpp). A layer that reruns gets a buffer from the pool for
  // its forward and gives it back after; rerun_forward takes one again before its backward.
  void plan_reruns();
  Status hold_saved(std::size_t layer, MicrobatchState& state);  // before forward
  Status drop_saved(std::size_t layer, MicrobatchState& state);  // after forward
  Status rerun_forward(std::size_t layer, int microbatch, MicrobatchState& state);
  void give_back(Buffer buffer);  // to the pool, or freed when it is full
  void note_saved_peak();

  std::vector<LayerSlot> layers_;
  ParamStore* params_;
  ComputeDevice* device_;  // the parameters' device: every buffer of the stage lives there
  std::size_t first_slot_;
  StagePlacement placement_;
  std::vector<LayerShapes> shapes_;
  std::vector<std::int64_t> token_shape_;
  std::map<int, MicrobatchState> live_;
  // Finished microbatches' buffers, reused by the next forward: no allocation (and no page
  // faults) in the steady state.
  std::vector<MicrobatchState> free_states_;
  WeightsDone weights_done_;
  LayerCallChecks checks_;
  bool rng_watched_ = false;
  std::uint64_t rng_offset_watched_ = 0;  // the job's RNG offset when watching began
  std::vector<bool> reruns_;         // [layer] full recompute with saved state to drop
  std::size_t rerun_bytes_ = 0;      // every rerun buffer's size: the largest such layer's saved_bytes
  std::vector<Buffer> rerun_pool_;   // at most kRerunPool buffers of rerun_bytes_
  Buffer rerun_output_;              // a rerun's output, discarded
  std::size_t peak_saved_bytes_ = 0;
};

}  // namespace llmrt
