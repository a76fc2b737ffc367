#include "ckpt/training_checkpoints.h"

#include <zlib.h>

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "ckpt/resume.h"
#include "ckpt/stop_signal.h"

namespace llmrt {
namespace {

Manifest base_manifest(const Spec& spec, const Registry& registry, const Trainer& trainer, const std::string& config) {
  Manifest m;
  const Layout& layout = trainer.layout();
  m.layout = {layout.pp, layout.tp, layout.dp, layout.virtual_stages, layout.microbatch_size, layout.microbatches,
              layout.schedule, layout.stage_layers};
  m.precision = std::string(precision_name(spec.train.precision));
  const auto crc = ::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(config.data()),
                           static_cast<uInt>(config.size()));
  m.config_crc32 = fmt::format("{:08x}", crc);
  m.model_name = spec.model.name;
  for (const auto& plugin : registry.plugins()) m.plugins[plugin->name] = plugin->version;
  m.seed = spec.train.seed;
  m.global_batch = spec.train.global_batch.value;
  m.data_train = spec.data.train;
  return m;
}

}  // namespace

Result<std::unique_ptr<TrainingCheckpoints>> TrainingCheckpoints::open(const Spec& spec, const Registry& registry,
                                                                       Trainer& trainer, const World& world,
                                                                       std::string config_text,
                                                                       std::int64_t kill_during_write_step) {
  std::unique_ptr<TrainingCheckpoints> session(new TrainingCheckpoints(spec, trainer, world));
  const CheckpointSpec& checkpoint = spec.checkpoint;
  LLMRT_ASSIGN_OR_RETURN(const std::string resume_dir, choose_resume_dir(checkpoint, world));
  if (!resume_dir.empty()) LLMRT_RETURN_IF_ERROR(load_checkpoint(resume_dir, trainer, spec, world));
  if (!checkpoint.dir.value.empty()) {
    CheckpointRun run{checkpoint.dir.value, checkpoint.keep.value,
                      base_manifest(spec, registry, trainer, config_text), std::move(config_text),
                      kill_during_write_step};
    session->writer_ = std::make_unique<CheckpointWriter>(std::move(run), trainer, world);
  }
  install_stop_handlers(/*sigterm=*/world.launcher() != "mpirun");
  return session;
}

// Every `every` steps, and at the last step (Megatron's rule: a run's end is always kept).
bool TrainingCheckpoints::due(std::int64_t step) const {
  const std::int64_t every = spec_->checkpoint.every.value;
  return writer_ && every > 0 && (step % every == 0 || step == spec_->train.steps);
}

Result<AfterStep> TrainingCheckpoints::after_step(std::int64_t step) {
  const int local_signal = stop_signal();
  const int signal = world_->launched() ? static_cast<int>(world_->max(local_signal)) : local_signal;
  if (writer_ && writer_->pending()) {
    auto polled = writer_->poll(/*wait=*/false);
    if (!polled) return polled.error();
  }
  if (due(step) || (signal != 0 && writer_)) LLMRT_RETURN_IF_ERROR(writer_->start(step));
  if (signal == 0) return AfterStep::kContinue;
  if (!writer_) {
    return Error(ErrorKind::kInterrupted,
                 fmt::format("stopped by {} after step {}; nothing was kept (no checkpoint.dir)",
                             stop_signal_name(signal), step));
  }
  LLMRT_RETURN_IF_ERROR(finish());
  if (world_->rank() == 0) {
    std::cout << fmt::format("stopped by {} after step {}; checkpoint kept in {}\n", stop_signal_name(signal), step,
                             writer_->last_kept());
  }
  return AfterStep::kStop;
}

Status TrainingCheckpoints::finish() {
  if (!writer_) return Status::success();
  auto finished = writer_->poll(/*wait=*/true);
  if (!finished) return finished.error();
  return Status::success();
}

}  // namespace llmrt
