#include "ckpt/resume.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckpt/checkpoint_read.h"
#include "ckpt/checkpoint_writer.h"
#include "device/buffer.h"
#include "exec/vocab_rows.h"

namespace llmrt {
namespace fs = std::filesystem;
namespace {

// The checkpoints to try, best first: `latest`, then every other complete one, newest first.
std::vector<std::string> candidates_in(const std::string& checkpoint_dir) {
  std::vector<std::string> out;
  auto latest = latest_step_dir(checkpoint_dir);
  if (latest && !latest->empty()) out.push_back(*latest);
  for (const std::string& dir : complete_step_dirs(checkpoint_dir)) {
    if (out.empty() || fs::path(dir) != fs::path(out.front())) out.push_back(dir);
  }
  return out;
}

Result<std::string> choose_on_rank0(const CheckpointSpec& checkpoint) {
  const std::string& resume = checkpoint.resume.value;
  if (!checkpoint.dir.value.empty()) remove_unfinished_checkpoints(checkpoint.dir.value);
  if (resume == "never") return std::string();
  std::vector<std::string> candidates;
  std::error_code error;
  if (resume == "auto") {
    if (checkpoint.dir.value.empty()) return std::string();
    candidates = candidates_in(checkpoint.dir.value);
    if (candidates.empty()) return std::string();
  } else if (fs::exists(resume + "/manifest.json", error)) {
    candidates = {resume};
  } else {
    candidates = candidates_in(resume);
    if (candidates.empty()) {
      return input_error("checkpoint.resume = \"{}\": no complete checkpoint there (a step folder with "
                         "manifest.json, or a checkpoint.dir holding one)", resume);
    }
  }
  for (const std::string& dir : candidates) {
    auto manifest = read_manifest(dir);
    Status usable = manifest ? verify_checkpoint(dir, *manifest) : Status(manifest.error());
    if (usable.ok()) return dir;
    // A manifest that parses wrong (file names leaving the folder, missing fields) is refused, not skipped.
    if (!manifest && fs::exists(dir + "/manifest.json", error)) return manifest.error();
    std::cerr << "llmrt: warning: checkpoint " << dir << " is not usable: " << usable.error().message()
              << "; trying the previous complete checkpoint\n";
  }
  return runtime_error("checkpoint.resume = \"{}\": every checkpoint there failed its checks (warnings above)", resume);
}

// Rank 0's text to every rank.
std::string broadcast_text(const World& world, std::string text) {
  if (!world.launched()) return text;
  unsigned long long size = text.size();
  MPI_Bcast(&size, 1, MPI_UNSIGNED_LONG_LONG, 0, world.comm());
  text.resize(size);
  MPI_Bcast(text.data(), static_cast<int>(size), MPI_CHAR, 0, world.comm());
  return text;
}

// Every tensor of this model is in the checkpoint at its shape (or, for the padded vocabulary's
// tensors, at another padding: re-padded as they load), and the checkpoint holds no tensor this
// model lacks. Rank 0 sees every rank's names.
Status check_same_model(const Manifest& manifest, const ParamStore& params, const std::string& source,
                        const World& world) {
  Status local = Status::success();
  std::string names;
  for (const ParamEntry& entry : params.entries()) {
    names += entry.name + "\n";
    auto found = manifest.tensors.find(entry.name);
    if (found == manifest.tensors.end()) {
      local = input_error("{}: a checkpoint of another model: it has no tensor {} (this model's is {})", source,
                          entry.name, shape_text(entry.global_shape));
      break;
    }
    if (found->second.global_shape != entry.global_shape && !repaddable(found->second.global_shape, entry)) {
      local = input_error("{}: a checkpoint of another model: tensor {} is {} there and {} in this model", source,
                          entry.name, shape_text(found->second.global_shape), shape_text(entry.global_shape));
      break;
    }
  }
  LLMRT_RETURN_IF_ERROR(world.agree(local));
  const std::vector<std::string> all = world.launched() ? world.gather(names) : std::vector<std::string>{names};
  if (world.rank() == 0) {
    std::set<std::string> model;
    for (const std::string& text : all) {
      std::istringstream lines(text);
      for (std::string line; std::getline(lines, line);) model.insert(line);
    }
    for (const auto& [name, tensor] : manifest.tensors) {
      if (model.count(name) == 0) {
        local = input_error("{}: a checkpoint of another model: it has tensor {} {}, which this model lacks", source,
                            name, shape_text(tensor.global_shape));
        break;
      }
    }
  }
  return world.agree(local);
}

Status check_resumable(const Manifest& manifest, const Spec& spec, const OptimizerStep& optimizer,
                       const std::string& source) {
  if (manifest.global_batch != spec.train.global_batch.value) {
    return input_error("{}: written with train.global_batch = {}, this run has {}; the data position counts "
                       "steps of one batch size", source, manifest.global_batch, spec.train.global_batch.value);
  }
  if (manifest.optimizer_states != optimizer.state_names()) {
    return input_error("{}: optimizer states [{}] there, [{}] in this run's optimizer", source,
                       fmt::join(manifest.optimizer_states, ", "), fmt::join(optimizer.state_names(), ", "));
  }
  return Status::success();
}

// Parameters through ParamStore::load_global; optimizer states sliced the same way (and under
// ZeRO-1 cut to this rank's pieces: a checkpoint of any dp and zero resumes on any other). Both
// re-padded when the checkpoint's vocabulary padding differs: the padded rows' states are zero
// too (no gradient ever reaches them).
Status load_tensors(CheckpointReader& reader, Trainer& trainer) {
  ParamStore& params = trainer.params();
  ProcessGroups& groups = trainer.groups();
  const RankCoords& coords = groups.coords();
  ModelTensors mine;
  for (const ParamEntry& entry : params.entries()) {
    LLMRT_ASSIGN_OR_RETURN(mine[entry.name], reader.global_tensor(entry.name));
  }
  LLMRT_RETURN_IF_ERROR(params.load_global(mine, reader.step_dir()));
  const CopyKind to_device = copy_kind(cpu_device().id(), groups.device().id());
  const auto& names = trainer.optimizer().state_names();
  for (std::size_t s = 0; s < names.size(); ++s) {
    Buffer& state = trainer.optimizer().states()[s];
    for (const ParamEntry& entry : params.entries()) {
      LLMRT_ASSIGN_OR_RETURN(GlobalTensor global, reader.global_tensor(entry.name, names[s]));
      LLMRT_RETURN_IF_ERROR(fit_vocab_rows(global, entry, reader.step_dir(), entry.name + " " + names[s]));
      const std::vector<float> local = entry.shard_dim == LLMRT_NO_SHARD
                                           ? std::move(global.values)
                                           : slice_along(global.values, global.shape, entry.shard_dim, coords.tp,
                                                         trainer.layout().tp);
      if (ZeroShards* zero = trainer.zero()) {  // ZeRO-1: this rank's pieces of it
        LLMRT_RETURN_IF_ERROR(zero->load_state(state, entry, local));
        continue;
      }
      LLMRT_RETURN_IF_ERROR(groups.device().copy(state.data_as<float>() + entry.offset, local.data(),
                                                 entry.count * sizeof(float), to_device, nullptr));
    }
  }
  return Status::success();
}

bool same_layout(const CheckpointLayout& written, const Layout& layout) {
  return written.pp == layout.pp && written.tp == layout.tp && written.dp == layout.dp &&
         written.virtual_stages == layout.virtual_stages && written.stage_layers == layout.stage_layers;
}

}  // namespace

Result<std::string> choose_resume_dir(const CheckpointSpec& checkpoint, const World& world) {
  Result<std::string> chosen = world.rank() == 0 ? choose_on_rank0(checkpoint) : Result<std::string>(std::string());
  LLMRT_RETURN_IF_ERROR(world.agree(chosen));
  return broadcast_text(world, *chosen);
}

Status load_checkpoint(const std::string& step_dir, Trainer& trainer, const Spec& spec, const World& world) {
  auto manifest = read_manifest(step_dir);
  LLMRT_RETURN_IF_ERROR(world.agree(manifest));
  LLMRT_RETURN_IF_ERROR(check_same_model(*manifest, trainer.params(), step_dir, world));
  LLMRT_RETURN_IF_ERROR(world.agree(check_resumable(*manifest, spec, trainer.optimizer(), step_dir)));
  const Manifest& m = *manifest;
  const Layout& layout = trainer.layout();
  const bool same = same_layout(m.layout, layout);
  CheckpointReader reader(step_dir, m);
  LLMRT_RETURN_IF_ERROR(world.agree(load_tensors(reader, trainer)));
  TrainerState state{m.step, m.updates_done, {m.loss_scale, m.loss_scale_clean_steps}, 0, m.sequences_consumed};
  // The plugins' RNG stream continues where this stage's left off; on another split of the
  // layers there is no such place and it restarts (bit-for-bit resume is same-layout only).
  for (const CheckpointFile& file : m.files) {
    if (same && file.pp == trainer.groups().coords().pp) state.rng_offset = file.rng_offset;
  }
  trainer.restore(state);
  if (world.rank() == 0) {
    const std::string now = fmt::format("pp{} tp{} dp{}", layout.pp, layout.tp, layout.dp);
    std::cout << fmt::format("resumed from {} at step {} (layout {}{})\n", step_dir, m.step,
                             same ? now : m.layout.label() + " → " + now, same ? "" : ", resharded");
  }
  return Status::success();
}

}  // namespace llmrt
