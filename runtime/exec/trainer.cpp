#include "exec/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "exec/model_plan.h"
#include "plugin/component_config.h"
#include "plugin/plugin_calls.h"
#include "schedule/link_order.h"
#include "schedule/schedule_loader.h"

namespace llmrt {
namespace {

Result<std::unique_ptr<TokenSource>> open_training_data(const Spec& spec) {
  const std::int64_t seq = spec.model.seq_len.value;
  if (spec.data.train.empty()) return random_tokens(spec.train.seed, spec.model.vocab_size.value, seq);
  return open_token_shards(spec.data.train, "data.train", spec.model.vocab_size.value, seq,
                           ShardOrder{spec.data.shuffle, spec.train.seed});
}

}  // namespace

Result<double> layer_flops(const LayerSlot& layer, std::int64_t batch, std::int64_t seq) {
  LLMRT_ASSIGN_OR_RETURN(const llmrt_cost_hints hints, layer_cost_hints(layer.instance, batch, seq));
  return hints.forward_flops + hints.backward_input_flops + hints.backward_weight_flops;
}

Result<double> layers_flops(const std::vector<LayerSlot>& layers, std::int64_t batch, std::int64_t seq) {
  double flops = 0;
  for (const LayerSlot& slot : layers) {
    LLMRT_ASSIGN_OR_RETURN(auto one, layer_flops(slot, batch, seq));
    flops += one;
  }
  return flops;
}

Result<std::unique_ptr<Trainer>> Trainer::create(const Spec& spec, const Registry& registry, const Layout& layout,
                                                 ProcessGroups& groups, Progress& progress,
                                                 std::vector<std::int32_t> rank_dtypes) {
  std::unique_ptr<Trainer> trainer(new Trainer());
  if (rank_dtypes.empty()) rank_dtypes.assign(static_cast<std::size_t>(layout.world_size()), compute_dtype_of(spec.train.precision));
  if (rank_dtypes.size() != static_cast<std::size_t>(layout.world_size())) {
    return runtime_error("{} rank dtypes for a layout of {} ranks", rank_dtypes.size(), layout.world_size());
  }
  trainer->rank_dtypes_ = std::move(rank_dtypes);
  trainer->train_ = spec.train;
  trainer->layout_ = layout;
  trainer->seq_ = spec.model.seq_len.value;
  trainer->groups_ = &groups;
  trainer->teardown_frees_.device = &groups.device();
  trainer->progress_ = &progress;
  trainer->job_state_ = std::make_unique<PluginJobState>(spec.train.seed);
  // One fp16 rank anywhere puts the whole job under the dynamic loss scale: the loss gradient
  // crosses every stage, and skips must be unanimous.
  const bool any_fp16 = std::count(trainer->rank_dtypes_.begin(), trainer->rank_dtypes_.end(), LLMRT_DTYPE_F16) > 0;
  trainer->scaler_ = std::make_unique<LossScaler>(spec.train, any_fp16);
  LLMRT_RETURN_IF_ERROR(trainer->build_stages(spec, registry));
  if (layout.zero == 1 && layout.dp > 1) {
    LLMRT_ASSIGN_OR_RETURN(trainer->zero_, ZeroShards::create(*trainer->params_, groups.data_parallel(), progress,
                                                                 spec.parallel.zero_overlap));
  }
  const std::size_t kept = trainer->zero_ ? trainer->zero_->layout().shard_count() : trainer->params_->parameter_count();
  LLMRT_ASSIGN_OR_RETURN(auto optimizer, OptimizerStep::create(spec.train, registry, kept, groups.device()));
  trainer->optimizer_ = std::make_unique<OptimizerStep>(std::move(optimizer));
  LLMRT_ASSIGN_OR_RETURN(auto table, stage_param_table(spec.train, registry, trainer->params_->entries(),
                                                       trainer->zero_ != nullptr));
  trainer->optimizer_->set_param_table(std::move(table));
  LLMRT_ASSIGN_OR_RETURN(auto data, open_training_data(spec));
  trainer->data_ = std::move(data);
  LLMRT_RETURN_IF_ERROR(trainer->load_actions(registry));
  return trainer;
}

// Creates every layer (cheap: no parameters yet) to learn the activation shapes between
// stages, keeps this rank's chunks, and lays their parameters out in one store.
Status Trainer::build_stages(const Spec& spec, const Registry& registry) {
  const int layer_count = static_cast<int>(expand_layers(spec.model).size());
  const RankCoords& coords = groups_->coords();
  const std::int32_t compute_dtype = rank_dtypes_.at(static_cast<std::size_t>(groups_->world_rank()));
  const llmrt_layer_context context{sizeof(llmrt_layer_context), coords.tp, layout_.tp, compute_dtype, 0,
                                    LLMRT_RECOMPUTE_NONE};  // create_layers sets each layer's mode
  LLMRT_ASSIGN_OR_RETURN(auto all_layers, create_layers(spec.model, registry, 0, layer_count, context, layout_.recompute));
  LLMRT_ASSIGN_OR_RETURN(auto shapes, layer_output_shapes(all_layers, layout_.microbatch_size, seq_));
  flops_per_microbatch_ = 0;
  std::vector<std::vector<LayerSlot>> chunk_layers;
  std::vector<LayerSlot> mine;  // in chunk order: what the parameter store lays out
  for (int chunk = 0; chunk < layout_.virtual_stages; ++chunk) {
    const int vs = layout_.virtual_stage(coords.pp, chunk);
    const int first = layout_.first_layer(vs), count = layout_.stage_layers.at(static_cast<std::size_t>(vs));
    std::vector<LayerSlot> layers;
    for (int i = first; i < first + count; ++i) layers.push_back(std::move(all_layers[static_cast<std::size_t>(i)]));
    LLMRT_ASSIGN_OR_RETURN(auto flops, layers_flops(layers, layout_.microbatch_size, seq_));
    flops_per_microbatch_ += flops;
    chunk_layers.push_back(std::move(layers));
  }
  for (auto& layers : chunk_layers) {
    for (LayerSlot& slot : layers) mine.push_back(std::move(slot));
  }
  const LayerCallChecks checks{spec.train.detect_anomaly || spec.train.guard_params, spec.train.guard_params};
  LLMRT_ASSIGN_OR_RETURN(auto params, ParamStore::build(mine, coords.tp, layout_.tp, groups_->device(),
                                                        checks.guard_params ? kParamGuardGap : 0));
  params_ = std::make_unique<ParamStore>(std::move(params));
  LLMRT_RETURN_IF_ERROR(params_->initialize(spec.train.seed));
  LLMRT_RETURN_IF_ERROR(params_->use_compute_dtype(compute_dtype));
  LLMRT_ASSIGN_OR_RETURN(streams_, StageStreams::create(groups_->device()));
  std::size_t first_slot = 0;
  for (int chunk = 0; chunk < layout_.virtual_stages; ++chunk) {
    const int vs = layout_.virtual_stage(coords.pp, chunk);
    const int first = layout_.first_layer(vs), count = layout_.stage_layers.at(static_cast<std::size_t>(vs));
    StagePlacement placement;
    placement.first = vs == 0;
    placement.last = vs == layout_.pp * layout_.virtual_stages - 1;
    placement.tp_rank = coords.tp;
    placement.tp_size = layout_.tp;
    placement.tp_comm = groups_->tensor_parallel_handle();
    placement.job = job_state_.get();
    placement.activation_dtype = compute_dtype;
    placement.stream = streams_->compute();
    if (!placement.first) placement.input_shape = shapes[static_cast<std::size_t>(first - 1)];
    std::vector<LayerSlot> layers(std::make_move_iterator(mine.begin() + static_cast<std::ptrdiff_t>(first_slot)),
                                  std::make_move_iterator(mine.begin() + static_cast<std::ptrdiff_t>(first_slot + count)));
    LLMRT_ASSIGN_OR_RETURN(auto stage,
                           Stage::build(std::move(layers), *params_, first_slot, placement,
                                        layout_.microbatch_size, seq_));
    stage.set_call_checks(checks);
    chunks_.push_back(std::make_unique<Stage>(std::move(stage)));
    first_slot += static_cast<std::size_t>(count);
  }
  return Status::success();
}

std::vector<std::int32_t> Trainer::pipeline_dtypes() const {
  std::vector<std::int32_t> dtypes;
  for (int pp = 0; pp < layout_.pp; ++pp) {
    const int rank = groups_->distributed() ? groups_->world_rank_of_stage(pp) : 0;
    dtypes.push_back(rank_dtypes_.at(static_cast<std::size_t>(rank)));
  }
  return dtypes;
}

Status Trainer::load_actions(const Registry& registry) {
  // Every rank verifies all pipeline ranks' lists (cheap, and no rank starts a list that can hang).
  LLMRT_ASSIGN_OR_RETURN(
      VerifiedSchedule schedule,
      load_verified_schedule(registry, layout_.schedule,
                             ScheduleShape{layout_.pp, layout_.microbatches, layout_.virtual_stages}));
  // NCCL's pipeline links match by order: a schedule whose links differ in order on their two
  // ends keeps the tag-matched path (the same lists on every rank: the same answer everywhere).
  const ScheduleShape shape{layout_.pp, layout_.microbatches, layout_.virtual_stages};
  if (const std::string mismatch = layout_.pp > 1 ? link_order_mismatch(shape, schedule.actions) : "";
      !mismatch.empty()) {
    groups_->pipeline().match_p2p_by_tag(fmt::format("schedule {} orders a link differently on its two ends: {}",
                                                     layout_.schedule, mismatch));
  }
  std::vector<Stage*> chunks;
  for (auto& chunk : chunks_) chunks.push_back(chunk.get());
  runner_ = std::make_unique<PipelineRunner>(std::move(chunks), layout_, *groups_, *progress_,
                                             std::move(schedule.actions[static_cast<std::size_t>(groups_->coords().pp)]),
                                             layout_.microbatch_size, seq_, pipeline_dtypes(), streams_.get());
  if (train_.cuda_graph.value) LLMRT_RETURN_IF_ERROR(runner_->use_cuda_graph());
  if (layout_.dp > 1) {
    buckets_ = std::make_unique<GradientBuckets>(*params_, groups_->data_parallel(), *progress_, layout_.microbatches,
                                                 zero_.get());
    // The bucket's reduction runs on the default order: it waits for the compute that made the gradients.
    for (auto& chunk : chunks_) {
      chunk->on_weights_done([this](std::size_t slot) -> Status {
        LLMRT_RETURN_IF_ERROR(streams_->hand_to_default());
        return buckets_->layer_done(slot);
      });
    }
  }
  // A parameter counts in the global norm on one rank only: replicated ones on tp rank 0,
  // tied copies on the lowest pipeline stage that holds one.
  for (const ParamEntry& entry : params_->entries()) {
    float weight = entry.shard_dim != LLMRT_NO_SHARD || groups_->coords().tp == 0 ? 1.0f : 0.0f;
    const Collectives* tie = entry.tied ? groups_->tie(entry.name) : nullptr;
    if (tie != nullptr) {
      if (tie->rank() != 0) weight = 0;
      tied_names_.push_back(entry.name);
    }
    norm_weights_.push_back(weight);
  }
  return Status::success();
}

// Tied copies on different stages add their gradients; data-parallel replicas add theirs
// (each microbatch's loss was already scaled by 1 / all microbatches of the step).
Status Trainer::synchronize_gradients() {
  // Sums commute: the data-parallel buckets (most already in flight) first, then tied copies.
  if (buckets_) LLMRT_RETURN_IF_ERROR(buckets_->finish(steps_done_ + 1));
  float* grads = params_->grad_buffer().data_as<float>();
  for (const std::string& name : tied_names_) {
    const ParamEntry& entry = *params_->find(name);
    progress_->begin_action(fmt::format("step {} all-reduce of tied {} gradients", steps_done_ + 1, name), -1);
    if (zero_) {  // the same pieces of the entry on every stage that holds it (same dp rank, same size)
      for (const ShardPiece& piece : zero_->layout().pieces_in(entry.offset, entry.count)) {
        LLMRT_RETURN_IF_ERROR(progress_->wait(groups_->tie(name)->start_all_reduce(
            zero_->grads().data_as<float>() + piece.shard, piece.count, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr)));
      }
    } else {
      LLMRT_RETURN_IF_ERROR(progress_->wait(groups_->tie(name)->start_all_reduce(
          grads + entry.offset, entry.count, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr)));
    }
    progress_->end_action();
  }
  return Status::success();
}

// Each entry this rank counts, reduced on its device into one f64 there (in entry order: the
// CPU's total is the old `sum += part` loop's, bit for bit), read once; then the sum over the
// model-parallel group. One host wait per step on a GPU, not one per entry.
Result<double> Trainer::global_grad_norm() {
  ComputeDevice& device = groups_->device();
  if (norm_total_.empty()) {  // once: the same f64 every step
    LLMRT_ASSIGN_OR_RETURN(norm_total_, Buffer::allocate(device, kDtypeF64, 1));
  }
  double* total = norm_total_.data_as<double>();
  LLMRT_RETURN_IF_ERROR(norm_total_.zero());
  if (zero_) {  // each replica holds 1/dp of the reduced gradients: the sum runs over the world
    LLMRT_RETURN_IF_ERROR(zero_->accumulate_sum_of_squares(norm_weights_, total));
  } else {
    const float* grads = params_->grad_buffer().data_as<float>();
    for (std::size_t e = 0; e < params_->entries().size(); ++e) {
      if (norm_weights_[e] == 0) continue;
      const ParamEntry& entry = params_->entries()[e];
      LLMRT_RETURN_IF_ERROR(device.accumulate_sum_of_squares(total, grads + entry.offset, entry.count, nullptr));
    }
  }
  double sum = 0;
  LLMRT_RETURN_IF_ERROR(device.copy(&sum, total, sizeof sum, copy_kind(device.id(), cpu_device().id()), nullptr));
  LLMRT_RETURN_IF_ERROR(device.synchronize(nullptr));
  progress_->begin_action(fmt::format("step {} all-reduce of the gradient norm", steps_done_ + 1), -1);
  Collectives& group = zero_ ? groups_->world() : groups_->model_parallel();
  LLMRT_RETURN_IF_ERROR(progress_->wait(group.start_all_reduce(&sum, 1, kDtypeF64, LLMRT_REDUCE_SUM, nullptr)));
  progress_->end_action();
  return std::sqrt(sum);
}

// One inf in this rank's first gradient, after the gradient reductions: the norm and the
// overflow flag carry it to every rank.
Status Trainer::poison_gradients() {
  inject_overflow_ = false;
  if (update_grads().count() == 0 || params_->entries().empty()) return Status::success();
  const float inf = std::numeric_limits<float>::infinity();
  ComputeDevice& device = groups_->device();
  // The first gradient this rank updates: its shard's (zero 1), or the first parameter's (not a
  // canary gap of train.guard_params).
  float* first = zero_ ? update_grads().data_as<float>()
                       : params_->grad_buffer().data_as<float>() + params_->entries().front().offset;
  return device.copy(first, &inf, sizeof inf, copy_kind(cpu_device().id(), device.id()), nullptr);
}

Buffer& Trainer::update_grads() { return zero_ ? zero_->grads() : params_->grad_buffer(); }

// Whether every rank's norm is finite. Data-parallel replicas hold the same reduced gradients
// and the norm is summed over the model-parallel group, so one rank's answer is everyone's;
// under dynamic scaling a skip must be unanimous for certain, so the flag is agreed world-wide
// (one scalar, and a fault injected on one rank after the reductions is seen by all).
Result<bool> Trainer::gradients_finite_everywhere(const StepReport& report) {
  double overflow = std::isfinite(report.grad_norm) ? 0.0 : 1.0;
  if (!scaler_->dynamic()) return overflow == 0;
  progress_->begin_action(fmt::format("step {} all-reduce of the overflow flag", report.step), -1);
  LLMRT_RETURN_IF_ERROR(
      progress_->wait(groups_->world().start_all_reduce(&overflow, 1, kDtypeF64, LLMRT_REDUCE_MAX, nullptr)));
  progress_->end_action();
  return overflow == 0;
}

// Clipping, the learning rate, the optimizer and the weights' compute copy, on a step whose
// gradients are finite and unscaled.
Status Trainer::apply_update(StepReport& report) {
  if (train_.grad_clip > 0 && report.grad_norm > train_.grad_clip) {
    const float scale = static_cast<float>(train_.grad_clip / (report.grad_norm + 1e-6));
    Buffer& grads = update_grads();
    LLMRT_RETURN_IF_ERROR(groups_->device().scale(grads.data_as<float>(), grads.count(), scale, nullptr));
  }
  // Skipped fp16 steps do not advance the schedule or the optimizer's step count (Megatron's rule).
  const std::int64_t update = updates_done_ + 1;
  LLMRT_ASSIGN_OR_RETURN(auto lr, optimizer_->learning_rate(update, train_.steps));
  report.lr = lr;
  if (zero_) {  // remakes the compute copy itself (its pieces, then the all-gather)
    LLMRT_RETURN_IF_ERROR(zero_->update(*optimizer_, lr, update, report.step));
  } else {
    LLMRT_RETURN_IF_ERROR(optimizer_->apply(params_->param_buffer(), params_->grad_buffer(), lr, update));
    LLMRT_RETURN_IF_ERROR(params_->refresh_compute_copy());
  }
  ++updates_done_;
  return Status::success();
}

Trainer::TeardownFrees::~TeardownFrees() {
  if (device != nullptr && clean) (void)device->release_deferred_frees();  // nothing to report to
}

Result<StepReport> Trainer::train_step() {
  teardown_frees_.clean = false;
  const auto start = std::chrono::steady_clock::now();
  StepReport report;
  report.step = steps_done_ + 1;
  // What was freed between steps (setup's staging, a checkpoint's snapshot, validation's
  // regrown buffers) goes back before the step, not at its end. Safe for the same reason as the
  // release below: every rank has finished the host side of the collectives queued so far, so
  // what this device still runs needs no more host work from this rank.
  LLMRT_RETURN_IF_ERROR_CTX(groups_->device().release_deferred_frees(),
                            "step {}: releasing GPU memory freed before it", report.step);
  report.loss_scale = scaler_->scale();
  LLMRT_RETURN_IF_ERROR(params_->zero_grads());
  const int all_microbatches = layout_.microbatches * layout_.dp;
  // By sequence, not batch: a replica's slice of the step is the same sequences whatever the
  // microbatch size, so a layout change keeps the data order.
  const std::int64_t first_sequence =
      sequences_consumed() + std::int64_t{groups_->coords().dp} * layout_.microbatches * layout_.microbatch_size;
  const float dloss = static_cast<float>(report.loss_scale / all_microbatches);
  LLMRT_ASSIGN_OR_RETURN(auto loss_sum, runner_->run_step(*data_, first_sequence, dloss, report.step));
  double loss = loss_sum;
  progress_->begin_action(fmt::format("step {} all-reduce of the loss", report.step), -1);
  LLMRT_RETURN_IF_ERROR(progress_->wait(groups_->world().start_all_reduce(&loss, 1, kDtypeF64, LLMRT_REDUCE_SUM, nullptr)));
  progress_->end_action();
  // The safe point for the device's deferred frees (Buffers dropped or regrown during the
  // step): the loss read has waited for the compute stream, and the loss's world all-reduce
  // means every rank has queued all of this step's pipeline sends and receives and the buckets
  // it started, so a cudaFree's device-wide wait here cannot hold back work a peer waits for.
  LLMRT_RETURN_IF_ERROR_CTX(groups_->device().release_deferred_frees(), "step {}: releasing freed GPU memory",
                            report.step);
  if (groups_->distributed()) loss /= layout_.tp;  // every tp rank of the last stage computed the same losses
  report.loss = loss / all_microbatches;
  LLMRT_RETURN_IF_ERROR(synchronize_gradients());
  if (inject_overflow_) LLMRT_RETURN_IF_ERROR(poison_gradients());
  if (report.loss_scale != 1) {
    Buffer& grads = update_grads();
    LLMRT_RETURN_IF_ERROR(groups_->device().scale(grads.data_as<float>(), grads.count(),
                                                  static_cast<float>(1 / report.loss_scale), nullptr));
  }
  LLMRT_ASSIGN_OR_RETURN(auto norm, global_grad_norm());
  report.grad_norm = norm;
  LLMRT_ASSIGN_OR_RETURN(const bool finite, gradients_finite_everywhere(report));
  LLMRT_ASSIGN_OR_RETURN(const bool update, scaler_->after_step(finite, report.step));
  if (update) {
    LLMRT_RETURN_IF_ERROR(apply_update(report));
  } else {
    report.skipped = true;
    LLMRT_ASSIGN_OR_RETURN(report.lr, optimizer_->learning_rate(updates_done_ + 1, train_.steps));
  }
  ++steps_done_;
  // The run's last step: no forward follows to wait for ZeRO-1's all-gathers.
  if (steps_done_ >= train_.steps) LLMRT_RETURN_IF_ERROR(params_->settle());
  sequences_consumed_ += std::int64_t{layout_.microbatch_size} * all_microbatches;
  report.tokens = static_cast<std::int64_t>(layout_.microbatch_size) * seq_ * all_microbatches;
  report.flops = flops_per_microbatch_ * layout_.microbatches;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  teardown_frees_.clean = true;
  return report;
}

TrainerState Trainer::state() const {
  return {steps_done_, updates_done_, scaler_->state(), job_state_->rng_offset.load(), sequences_consumed_};
}

void Trainer::restore(const TrainerState& state) {
  steps_done_ = state.steps_done;
  updates_done_ = state.updates_done;
  scaler_->restore(state.scaler);
  job_state_->rng_offset.store(state.rng_offset);
  sequences_consumed_ = state.sequences_consumed;
}

Result<double> Trainer::total_parameters() {
  double count = 0;
  for (std::size_t e = 0; e < params_->entries().size(); ++e) count += norm_weights_[e] * params_->entries()[e].count;
  LLMRT_RETURN_IF_ERROR(
      progress_->wait(groups_->model_parallel().start_all_reduce(&count, 1, kDtypeF64, LLMRT_REDUCE_SUM, nullptr)));
  return count;
}

std::size_t Trainer::live_microbatches() const {
  std::size_t live = 0;
  for (const auto& chunk : chunks_) live += chunk->live_microbatches();
  return live;
}

std::size_t Trainer::peak_saved_bytes() const {
  std::size_t bytes = 0;
  for (const auto& chunk : chunks_) bytes += chunk->peak_saved_bytes();
  return bytes;
}

}  // namespace llmrt
