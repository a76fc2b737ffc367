#include "exec/trainer.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "plugin/component_config.h"
#include "plugin/plugin_calls.h"
#include "schedule/verifier.h"

namespace llmrt {
namespace {

// One pipeline rank of the configured schedule: the single-rank run is the p = 1 case.
Result<std::vector<llmrt_action>> single_rank_actions(const Registry& registry, const std::string& name,
                                                      int microbatches) {
  auto component = registry.lookup(name, LLMRT_KIND_PIPELINE_SCHEDULE, "[parallel].schedule");
  if (!component) return component.error();
  auto config = resolve_default_config(**component);
  if (!config) return config.error();
  const llmrt_schedule_shape shape = schedule_shape(1, microbatches, 1);
  LLMRT_RETURN_IF_ERROR(check_schedule_shape(**component, *config, shape));
  auto actions = schedule_actions(**component, *config, shape, 0);
  if (!actions) return actions.error();
  auto report = verify_schedule(ScheduleShape{1, microbatches, 1}, {*actions});
  if (!report) return report.error().with_context(fmt::format("schedule '{}'", name));
  return actions;
}

Result<std::unique_ptr<TokenSource>> open_training_data(const Spec& spec) {
  if (spec.data.train.empty()) return random_tokens(spec.train.seed, spec.model.vocab_size.value);
  return open_token_shards(spec.data.train, spec.model.vocab_size.value);
}

}  // namespace

Result<double> stage_flops(const Stage& stage, std::int64_t batch, std::int64_t seq) {
  double flops = 0;
  for (const LayerSlot& slot : stage.layers()) {
    const auto& table = slot.component->layer();
    if (!table.cost_hints) continue;
    llmrt_cost_hints hints{};
    hints.struct_size = sizeof(hints);
    LLMRT_RETURN_IF_ERROR(check_component_call(table.cost_hints(slot.instance.get(), batch, seq, &hints),
                                               *slot.component, "cost_hints"));
    flops += hints.forward_flops + hints.backward_input_flops + hints.backward_weight_flops;
  }
  return flops;
}

Result<Trainer> Trainer::create(const Spec& spec, const Registry& registry) {
  Trainer trainer;
  trainer.train_ = spec.train;
  trainer.batch_ = spec.parallel.microbatch_size;
  trainer.seq_ = spec.model.seq_len.value;
  if (spec.train.global_batch.value % trainer.batch_ != 0) {
    return input_error("{}: global_batch = {} is not a multiple of microbatch_size = {}",
                       spec.train.global_batch.pos.describe(), spec.train.global_batch.value, trainer.batch_);
  }
  trainer.microbatches_ = static_cast<int>(spec.train.global_batch.value / trainer.batch_);
  const int layer_count = static_cast<int>(expand_layers(spec.model).size());
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0};
  auto layers = create_layers(spec.model, registry, 0, layer_count, context);
  if (!layers) return layers.error();
  auto params = ParamStore::build(*layers, 0, 1);
  if (!params) return params.error();
  params->initialize(spec.train.seed);
  auto stage = Stage::build(std::move(*layers), std::move(*params), StagePlacement{}, trainer.batch_, trainer.seq_);
  if (!stage) return stage.error();
  trainer.stage_ = std::make_unique<Stage>(std::move(*stage));
  auto optimizer = OptimizerStep::create(spec.train, registry, trainer.stage_->params().params().size());
  if (!optimizer) return optimizer.error();
  trainer.optimizer_ = std::make_unique<OptimizerStep>(std::move(*optimizer));
  auto data = open_training_data(spec);
  if (!data) return data.error();
  trainer.data_ = std::move(*data);
  auto actions = single_rank_actions(registry, spec.parallel.schedule, trainer.microbatches_);
  if (!actions) return actions.error();
  trainer.actions_ = std::move(*actions);
  auto flops = stage_flops(*trainer.stage_, trainer.batch_, trainer.seq_);
  if (!flops) return flops.error();
  trainer.flops_per_microbatch_ = *flops;
  return trainer;
}

Status Trainer::forward_microbatch(int microbatch, double& loss_sum) {
  auto batch = data_->next_batch(batch_, seq_);
  if (!batch) return batch.error();
  LLMRT_RETURN_IF_ERROR(stage_->forward(microbatch, batch->inputs, {}, batch->targets));
  const float loss = stage_->loss(microbatch);
  if (!std::isfinite(loss)) {
    return runtime_error("step {}, microbatch {}: the loss is {}; stopping before the update (no checkpoint written)",
                         steps_done_ + 1, microbatch, loss);
  }
  loss_sum += loss;
  return Status::success();
}

Status Trainer::run_actions(StepReport& report) {
  // Each microbatch's loss enters the step's mean with weight 1/m: that is its gradient scale.
  const float loss_scale = 1.0f / static_cast<float>(microbatches_);
  double loss_sum = 0;
  for (const llmrt_action& action : actions_) {
    switch (action.kind) {
      case LLMRT_ACTION_FORWARD: LLMRT_RETURN_IF_ERROR(forward_microbatch(action.microbatch, loss_sum)); break;
      case LLMRT_ACTION_BACKWARD_INPUT:
        LLMRT_RETURN_IF_ERROR(stage_->backward_input(action.microbatch, std::span<const float>(&loss_scale, 1)));
        break;
      case LLMRT_ACTION_BACKWARD_WEIGHT: LLMRT_RETURN_IF_ERROR(stage_->backward_weight(action.microbatch)); break;
      default:
        return runtime_error("single-rank run: the schedule sent {} to another rank", describe_action(action));
    }
  }
  report.loss = loss_sum / microbatches_;
  return Status::success();
}

Result<StepReport> Trainer::train_step() {
  const auto start = std::chrono::steady_clock::now();
  StepReport report;
  report.step = steps_done_ + 1;
  stage_->params().zero_grads();
  LLMRT_RETURN_IF_ERROR(run_actions(report));
  report.grad_norm = clip_global_norm(stage_->params().grads(), train_.grad_clip);
  if (!std::isfinite(report.grad_norm)) {
    return runtime_error("step {}: the gradient norm is {}; stopping before the update", report.step,
                         report.grad_norm);
  }
  auto lr = optimizer_->learning_rate(report.step, train_.steps);
  if (!lr) return lr.error();
  report.lr = *lr;
  LLMRT_RETURN_IF_ERROR(optimizer_->apply(stage_->params().params(), stage_->params().grads(), *lr, report.step));
  ++steps_done_;
  report.tokens = batch_ * seq_ * microbatches_;
  report.flops = flops_per_microbatch_ * microbatches_;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace llmrt
