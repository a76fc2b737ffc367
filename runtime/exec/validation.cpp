#include "exec/validation.h"

#include <algorithm>

#include <fmt/format.h>

namespace llmrt {

Status check_val_windows(const Spec& spec, std::int64_t windows, std::int64_t global_batch) {
  if (windows >= global_batch) return Status::success();
  return input_error("data.val = \"{}\": {} windows of seq_len + 1 = {} tokens, fewer than one train.global_batch "
                     "= {} (validation runs in whole global batches)",
                     spec.data.val.value, windows, spec.model.seq_len.value + 1, global_batch);
}

Result<std::unique_ptr<Validator>> Validator::create(const Spec& spec, const Trainer& trainer) {
  if (spec.data.val.value.empty()) return std::unique_ptr<Validator>();
  LLMRT_ASSIGN_OR_RETURN(auto data, open_token_shards(spec.data.val.value, "data.val", spec.model.vocab_size.value,
                                                      spec.model.seq_len.value, ShardOrder{false, 0}));
  const Layout& layout = trainer.layout();
  const std::int64_t global_batch = std::int64_t{layout.microbatches} * layout.microbatch_size * layout.dp;
  const std::int64_t wanted = spec.data.val_sequences > 0 ? spec.data.val_sequences : 20 * global_batch;
  LLMRT_RETURN_IF_ERROR(check_val_windows(spec, data->windows(), global_batch));
  const std::int64_t fits = data->windows() / global_batch * global_batch;
  return std::unique_ptr<Validator>(
      new Validator(std::move(data), std::min(wanted, fits), spec.data.val_every.value, spec.train.steps));
}

Result<double> Validator::run(Trainer& trainer, std::int64_t step) {
  const Layout& layout = trainer.layout();
  ProcessGroups& groups = trainer.groups();
  // Replica r validates sequences [r·share, (r + 1)·share); its pipeline runs them in microbatches.
  const std::int64_t share = sequences_ / layout.dp;
  const auto microbatches = static_cast<int>(share / layout.microbatch_size);
  LLMRT_ASSIGN_OR_RETURN(double loss, trainer.runner().run_forward_only(*data_, groups.coords().dp * share,
                                                                        microbatches, step));
  Progress& progress = trainer.progress();
  progress.begin_action(fmt::format("validation after step {}: all-reduce of the loss", step), -1);
  LLMRT_RETURN_IF_ERROR(progress.wait(groups.world().start_all_reduce(&loss, 1, kDtypeF64, LLMRT_REDUCE_SUM, nullptr)));
  progress.end_action();
  // The safe point for frees deferred during the pass, as at a training step's end: the loss read
  // waited for the compute stream and every rank has queued all of the pass's sends and receives.
  LLMRT_RETURN_IF_ERROR_CTX(groups.device().release_deferred_frees(),
                            "validation after step {}: releasing freed GPU memory", step);
  if (groups.distributed()) loss /= layout.tp;  // every tp rank of the last stage computed the same losses
  return loss / static_cast<double>(sequences_ / layout.microbatch_size);
}

}  // namespace llmrt
