// Training on any pp × tp × dp layout: this rank's stages (one per virtual stage it holds),
// their parameters in one flat store, the schedule's action list for its pipeline rank with
// non-blocking sends and receives, tensor-parallel collectives inside the layers, gradient
// all-reduce across data-parallel replicas and tied copies, global-norm clipping and the
// optimizer step. One rank without a launcher is the 1 × 1 × 1 case of the same code.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "comm/process_groups.h"
#include "comm/progress.h"
#include "config/spec.h"
#include "data/token_shards.h"
#include "exec/gradient_buckets.h"
#include "exec/loss_scaler.h"
#include "exec/optimizer_step.h"
#include "exec/pipeline_runner.h"
#include "exec/stage.h"
#include "exec/stage_streams.h"
#include "exec/zero_shards.h"
#include "plan/layout.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

struct StepReport {
  std::int64_t step = 0;         // 1-based optimizer step
  double loss = 0;               // mean over the step's microbatches, all replicas
  double lr = 0;
  double grad_norm = 0;          // global, before clipping
  double seconds = 0;
  std::int64_t tokens = 0;       // trained this step, all replicas
  double flops = 0;              // model FLOPs this step on this rank (forward + both backward passes)
  double loss_scale = 1;         // what the loss gradient was multiplied by (fp16's dynamic scale; else 1)
  bool skipped = false;          // fp16: the gradients overflowed, no update was applied
};

// What a checkpoint keeps of the trainer beyond its tensors, and a resume puts back.
struct TrainerState {
  std::int64_t steps_done = 0;
  std::int64_t updates_done = 0;      // the lr schedule's and the optimizer's step count
  LossScaler::State scaler;
  std::uint64_t rng_offset = 0;       // the plugins' RNG stream (dropout), this rank's
  std::int64_t sequences_consumed = 0;  // the data position (see Trainer::sequences_consumed)
};

class Trainer {
 public:
  // `groups` and `progress` must outlive the trainer.
  // rank_dtypes: [world rank] the dtype it computes in (empty: the training precision's everywhere).
  static Result<std::unique_ptr<Trainer>> create(const Spec& spec, const Registry& registry, const Layout& layout,
                                                 ProcessGroups& groups, Progress& progress,
                                                 std::vector<std::int32_t> rank_dtypes = {});

  Result<StepReport> train_step();  // the next optimizer step
  // Testing only (--inject-fault RANK:STEP:overflow): the next step's gradients on this rank get
  // an inf before they are reduced, as an fp16 overflow would leave them.
  void inject_gradient_overflow() { inject_overflow_ = true; }

  ParamStore& params() { return *params_; }
  PipelineRunner& runner() { return *runner_; }
  ProcessGroups& groups() { return *groups_; }
  OptimizerStep& optimizer() { return *optimizer_; }
  ZeroShards* zero() { return zero_.get(); }  // ZeRO-1's shards (nullptr: every state whole)
  const Layout& layout() const { return layout_; }
  int microbatches() const { return layout_.microbatches; }
  std::int64_t steps_done() const { return steps_done_; }
  // The data position: sequences of the training data consumed (steps × global batch). A
  // checkpoint stores it; a resume on any layout sets it back and reads on from there.
  std::int64_t sequences_consumed() const { return sequences_consumed_; }
  void set_sequences_consumed(std::int64_t sequences) { sequences_consumed_ = sequences; }
  Progress& progress() { return *progress_; }
  TrainerState state() const;
  void restore(const TrainerState& state);  // before the first step (a resume)
  double loss_scale() const { return scaler_->scale(); }  // the next step's
  const std::vector<std::int32_t>& rank_dtypes() const { return rank_dtypes_; }  // [world rank]
  std::size_t live_microbatches() const;  // activations held (0 between steps)
  std::size_t peak_saved_bytes() const;   // this rank's stages' saved state at its peak (Stage::peak_saved_bytes)
  // The model's parameter count over all ranks (tied copies and tp replicas counted once).
  Result<double> total_parameters();

 private:
  Trainer() = default;
  Status build_stages(const Spec& spec, const Registry& registry);
  std::vector<std::int32_t> pipeline_dtypes() const;  // [pp rank] of this rank's pipeline
  Status load_actions(const Registry& registry);
  Status synchronize_gradients();
  Result<double> global_grad_norm();
  Status poison_gradients();
  Result<bool> gradients_finite_everywhere(const StepReport& report);
  Status apply_update(StepReport& report);
  Buffer& update_grads();  // what the optimizer reads: the reduced gradients, or this rank's shard of them

  // Gives the device's deferred frees back after every member below has dropped its Buffers
  // (declared first, destroyed last), when the last step ended cleanly: after a failed step a
  // peer's NCCL work may never finish, and cudaFree's device-wide wait would hang the exit, so
  // the blocks then go with the process.
  struct TeardownFrees {
    ComputeDevice* device = nullptr;
    bool clean = true;  // false while a step runs; true again when it returns its report
    TeardownFrees() = default;
    TeardownFrees(const TeardownFrees&) = delete;
    TeardownFrees& operator=(const TeardownFrees&) = delete;
    ~TeardownFrees();
  } teardown_frees_;
  TrainSpec train_;
  Layout layout_;
  std::int64_t seq_ = 1;
  std::vector<std::int32_t> rank_dtypes_;         // [world rank] its compute dtype
  ProcessGroups* groups_ = nullptr;
  Progress* progress_ = nullptr;
  std::unique_ptr<ParamStore> params_;
  std::unique_ptr<StageStreams> streams_;         // the chunks' compute stream (none on the CPU)
  std::vector<std::unique_ptr<Stage>> chunks_;    // [chunk]: virtual stage chunk·pp + pp_rank
  std::unique_ptr<PipelineRunner> runner_;
  std::unique_ptr<ZeroShards> zero_;               // parallel.zero = 1 with dp > 1
  std::unique_ptr<GradientBuckets> buckets_;       // data-parallel runs
  std::unique_ptr<OptimizerStep> optimizer_;
  std::unique_ptr<TokenSource> data_;
  std::vector<float> norm_weights_;                // per parameter entry: 1 if this rank counts it in the norm
  Buffer norm_total_;                              // (1) f64 on the rank's device: the norm's Σ g², read once a step
  std::vector<std::string> tied_names_;            // tied parameters shared with other stages
  double flops_per_microbatch_ = 0;
  std::int64_t steps_done_ = 0;
  std::int64_t sequences_consumed_ = 0;            // training sequences read by finished steps
  std::int64_t updates_done_ = 0;                  // steps whose update was applied (fp16 skips some)
  std::unique_ptr<LossScaler> scaler_;
  bool inject_overflow_ = false;
  std::unique_ptr<PluginJobState> job_state_;     // behind every plugin call of this trainer
};

// Model FLOPs (forward and both backward passes) of one microbatch of (batch, seq) through a
// layer, or through several, from their cost hints (0 for a layer that gives none).
Result<double> layer_flops(const LayerSlot& layer, std::int64_t batch, std::int64_t seq);
Result<double> layers_flops(const std::vector<LayerSlot>& layers, std::int64_t batch, std::int64_t seq);

}  // namespace llmrt
