#include "ckpt/manifest.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace llmrt {
namespace {

using nlohmann::json;

json layout_json(const CheckpointLayout& layout) {
  return {{"pp", layout.pp}, {"tp", layout.tp}, {"dp", layout.dp}, {"virtual_stages", layout.virtual_stages},
          {"microbatch_size", layout.microbatch_size}, {"microbatches", layout.microbatches},
          {"schedule", layout.schedule}, {"stage_layers", layout.stage_layers}};
}

CheckpointLayout layout_from(const json& j) {
  CheckpointLayout layout;
  layout.pp = j.at("pp").get<int>();
  layout.tp = j.at("tp").get<int>();
  layout.dp = j.at("dp").get<int>();
  layout.virtual_stages = j.at("virtual_stages").get<int>();
  layout.microbatch_size = j.at("microbatch_size").get<int>();
  layout.microbatches = j.at("microbatches").get<int>();
  layout.schedule = j.at("schedule").get<std::string>();
  layout.stage_layers = j.at("stage_layers").get<std::vector<int>>();
  return layout;
}

// A file name a manifest may give: a plain name inside the step folder.
bool plain_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
         name != "." && name.find("..") == std::string::npos && name.find('\0') == std::string::npos;
}

Manifest manifest_from(const json& j) {
  Manifest m;
  m.step = j.at("step").get<std::int64_t>();
  m.updates_done = j.at("updates_done").get<std::int64_t>();
  m.loss_scale = j.at("loss_scaler").at("scale").get<double>();
  m.loss_scale_clean_steps = j.at("loss_scaler").at("clean_steps").get<std::int64_t>();
  m.layout = layout_from(j.at("layout"));
  m.precision = j.at("precision").get<std::string>();
  m.config_crc32 = j.at("config_crc32").get<std::string>();
  m.model_name = j.at("model_name").get<std::string>();
  m.plugins = j.at("plugins").get<std::map<std::string, std::string>>();
  m.seed = j.at("seed").get<std::uint64_t>();
  const json& data = j.at("data");
  m.global_batch = data.at("global_batch").get<std::int64_t>();
  m.sequences_consumed = data.at("sequences_consumed").get<std::int64_t>();
  m.data_train = data.at("train").get<std::string>();
  m.optimizer_states = j.at("optimizer_states").get<std::vector<std::string>>();
  for (const json& f : j.at("files")) {
    m.files.push_back({f.at("name").get<std::string>(), f.at("pp").get<int>(), f.at("tp").get<int>(),
                       f.at("bytes").get<std::uint64_t>(), f.at("crc32").get<std::uint32_t>(),
                       f.at("rng_offset").get<std::uint64_t>()});
  }
  for (const auto& [name, t] : j.at("tensors").items()) {
    m.tensors[name] = {t.at("global_shape").get<std::vector<std::int64_t>>(), t.at("shard_dim").get<int>(),
                       t.at("tied").get<bool>(), t.at("files").get<std::vector<std::string>>()};
  }
  return m;
}

Status check_manifest(const Manifest& m, const std::string& source) {
  for (const CheckpointFile& file : m.files) {
    if (!plain_file_name(file.name)) {
      return input_error("{}: file name \"{}\" leaves the checkpoint folder; expected a plain name such as "
                         "\"pp0-tp0.safetensors\"", source, file.name);
    }
  }
  for (const auto& [name, tensor] : m.tensors) {
    if (tensor.files.empty()) return input_error("{}: tensor {} names no file", source, name);
    if (tensor.shard_dim >= static_cast<int>(tensor.global_shape.size())) {
      return input_error("{}: tensor {} has shard_dim {} but {} dimensions", source, name, tensor.shard_dim,
                         tensor.global_shape.size());
    }
    for (const std::string& file : tensor.files) {
      if (m.file(file) == nullptr) return input_error("{}: tensor {} is in \"{}\", which the files list lacks", source, name, file);
    }
  }
  if (m.step < 0 || m.updates_done < 0 || m.updates_done > m.step) {
    return input_error("{}: step {} with {} updates done", source, m.step, m.updates_done);
  }
  return Status::success();
}

}  // namespace

std::string CheckpointLayout::label() const { return fmt::format("pp{} tp{} dp{}", pp, tp, dp); }

const CheckpointFile* Manifest::file(const std::string& name) const {
  for (const CheckpointFile& f : files) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string manifest_json(const Manifest& m) {
  json files = json::array(), tensors = json::object();
  for (const CheckpointFile& f : m.files) {
    files.push_back({{"name", f.name}, {"pp", f.pp}, {"tp", f.tp}, {"bytes", f.bytes}, {"crc32", f.crc32},
                     {"rng_offset", f.rng_offset}});
  }
  for (const auto& [name, t] : m.tensors) {
    tensors[name] = {{"global_shape", t.global_shape}, {"shard_dim", t.shard_dim}, {"tied", t.tied}, {"files", t.files}};
  }
  const json j = {{"format", "llmrt-checkpoint"}, {"version", kManifestVersion}, {"step", m.step},
                  {"updates_done", m.updates_done},
                  {"loss_scaler", {{"scale", m.loss_scale}, {"clean_steps", m.loss_scale_clean_steps}}},
                  {"layout", layout_json(m.layout)}, {"precision", m.precision}, {"config_crc32", m.config_crc32},
                  {"model_name", m.model_name}, {"plugins", m.plugins}, {"seed", m.seed},
                  {"data", {{"global_batch", m.global_batch}, {"sequences_consumed", m.sequences_consumed},
                            {"train", m.data_train}}},
                  {"optimizer_states", m.optimizer_states}, {"files", files}, {"tensors", tensors}};
  return j.dump(1) + "\n";
}

Result<Manifest> parse_manifest(const std::string& text, const std::string& source) {
  try {
    const json j = json::parse(text);
    if (j.value("format", "") != "llmrt-checkpoint") {
      return input_error("{}: not an llmrt checkpoint manifest (format \"{}\")", source, j.value("format", ""));
    }
    if (j.value("version", 0) != kManifestVersion) {
      return input_error("{}: manifest version {}; this llmrt reads version {}", source, j.value("version", 0),
                         kManifestVersion);
    }
    Manifest manifest = manifest_from(j);
    LLMRT_RETURN_IF_ERROR(check_manifest(manifest, source));
    return manifest;
  } catch (const json::exception& error) {
    return input_error("{}: {}", source, error.what());
  }
}

Result<Manifest> read_manifest(const std::string& step_dir) {
  const std::string path = step_dir + "/manifest.json";
  std::ifstream file(path);
  if (!file) return input_error("{}: cannot read (not a complete checkpoint)", path);
  std::ostringstream text;
  text << file.rdbuf();
  return parse_manifest(text.str(), path);
}

std::string step_dir_name(std::int64_t step) { return fmt::format("step_{:08d}", step); }

std::int64_t step_of_dir_name(const std::string& name) {
  const std::string prefix = "step_";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  std::int64_t step = -1;
  const char* begin = name.data() + prefix.size();
  const auto [end, ec] = std::from_chars(begin, name.data() + name.size(), step);
  if (ec != std::errc() || end != name.data() + name.size()) return -1;
  return step;
}

}  // namespace llmrt
