#include "ckpt/ckpt_commands.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ckpt/checkpoint_read.h"

namespace llmrt {
namespace {

std::int64_t elements(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto extent : shape) n *= extent;
  return n;
}

std::string size_text(double bytes) {
  if (bytes >= 1 << 30) return fmt::format("{:.1f} GiB", bytes / (1 << 30));
  if (bytes >= 1 << 20) return fmt::format("{:.1f} MiB", bytes / (1 << 20));
  if (bytes >= 1 << 10) return fmt::format("{:.1f} KiB", bytes / (1 << 10));
  return fmt::format("{} B", bytes);
}

void print_summary(const std::string& step_dir, const Manifest& m, std::ostream& out) {
  const CheckpointLayout& l = m.layout;
  out << fmt::format("checkpoint {}\n", step_dir);
  out << fmt::format("  step {} ({} updates applied), model \"{}\", precision {}\n", m.step, m.updates_done,
                     m.model_name, m.precision);
  out << fmt::format("  layout {} (virtual stages {}, schedule {}, {} microbatches of {}, stage layers [{}])\n",
                     l.label(), l.virtual_stages, l.schedule, l.microbatches, l.microbatch_size,
                     fmt::join(l.stage_layers, ", "));
  out << fmt::format("  data: {} sequences consumed (global batch {}), train \"{}\", seed {}\n", m.sequences_consumed,
                     m.global_batch, m.data_train, m.seed);
  out << fmt::format("  loss scale {}, optimizer states [{}], config crc32 {}\n", m.loss_scale,
                     fmt::join(m.optimizer_states, ", "), m.config_crc32);
  std::vector<std::string> plugins;
  for (const auto& [name, version] : m.plugins) plugins.push_back(name + " " + version);
  out << fmt::format("  plugins: {}\n", fmt::join(plugins, ", "));
  std::int64_t parameters = 0;
  for (const auto& [name, t] : m.tensors) parameters += elements(t.global_shape);
  out << fmt::format("tensors: {} ({} parameters; each with {} optimizer states)\n", m.tensors.size(), parameters,
                     m.optimizer_states.size());
  for (const auto& [name, t] : m.tensors) {
    const std::string shard = t.shard_dim < 0 ? "replicated" : fmt::format("split on dim {}", t.shard_dim);
    out << fmt::format("  {:<28} [{}]  {}{}  {}\n", name, fmt::join(t.global_shape, ", "), shard, t.tied ? ", tied" : "",
                       size_text(4.0 * elements(t.global_shape)));
  }
}

}  // namespace

Status inspect_checkpoint(const std::string& path, std::ostream& out) {
  LLMRT_ASSIGN_OR_RETURN(const std::string step_dir, resolve_step_dir(path));
  LLMRT_ASSIGN_OR_RETURN(const Manifest manifest, read_manifest(step_dir));
  print_summary(step_dir, manifest, out);
  out << fmt::format("files: {}\n", manifest.files.size());
  Status first_bad = Status::success();
  for (const CheckpointFile& file : manifest.files) {
    Manifest one = manifest;
    one.files = {file};
    const Status checked = verify_checkpoint(step_dir, one);
    out << fmt::format("  {:<24} {:>12} bytes  crc32 {:08x}  {}\n", file.name, file.bytes, file.crc32,
                       checked.ok() ? "ok" : "BAD: " + checked.error().message());
    if (!checked.ok() && first_bad.ok()) first_bad = checked;
  }
  if (!first_bad.ok()) return runtime_error("checksum failed: {}", first_bad.error().message());
  out << "checksums: all ok\n";
  return Status::success();
}

Status export_checkpoint(const std::string& path, const std::string& out_path, std::ostream& out) {
  LLMRT_ASSIGN_OR_RETURN(const std::string step_dir, resolve_step_dir(path));
  LLMRT_ASSIGN_OR_RETURN(const Manifest manifest, read_manifest(step_dir));
  LLMRT_ASSIGN_OR_RETURN(const ModelTensors model, read_checkpoint_model(step_dir));
  std::ifstream config_file(step_dir + "/config.toml");
  std::ostringstream config;
  config << config_file.rdbuf();
  std::int64_t parameters = 0;
  for (const auto& [name, tensor] : model) parameters += static_cast<std::int64_t>(tensor.values.size());
  LLMRT_ASSIGN_OR_RETURN(const WrittenFile written,
                         write_model_tensors(out_path, model,
                                             {{"step", std::to_string(manifest.step)}, {"config", config.str()}}));
  out << fmt::format("wrote {}: {} tensors, {} parameters, step {} ({} bytes)\n", out_path, model.size(), parameters,
                     manifest.step, written.bytes);
  return Status::success();
}

}  // namespace llmrt
