#include "ckpt/manifest.h"

#include <charconv>
#include <limits>
#include <stdexcept>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace llmrt {
namespace {

using nlohmann::json;

// A field of the wrong type or out of its type's range; parse_manifest reports it as an input error.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The integer at `key`, which must be a JSON integer that fits T: a float or a wider value would
// be cast (undefined for 1e300, a silent wrap for 2^32 + 2; both found by tests/fuzz).
template <typename T>
T integer(const json& value, std::string_view key) {
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    if (number <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(number);
  } else if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    if (number >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
        (number < 0 || static_cast<std::uint64_t>(number) <= static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
      return static_cast<T>(number);
    }
  }
  throw FieldError(fmt::format("{}: expected an integer from {} to {}, found {}", key, std::numeric_limits<T>::min(),
                               std::numeric_limits<T>::max(), value.dump()));
}

template <typename T>
T integer_at(const json& object, const char* key) {
  return integer<T>(object.at(key), key);
}

template <typename T>
std::vector<T> integers_at(const json& object, const char* key) {
  const json& array = object.at(key);
  if (!array.is_array()) throw FieldError(fmt::format("{}: expected an array of integers, found {}", key, array.dump()));
  std::vector<T> out;
  for (const json& item : array) out.push_back(integer<T>(item, key));
  return out;
}

json layout_json(const CheckpointLayout& layout) {
  return {{"pp", layout.pp}, {"tp", layout.tp}, {"dp", layout.dp}, {"virtual_stages", layout.virtual_stages},
          {"microbatch_size", layout.microbatch_size}, {"microbatches", layout.microbatches},
          {"schedule", layout.schedule}, {"stage_layers", layout.stage_layers}};
}

CheckpointLayout layout_from(const json& j) {
  CheckpointLayout layout;
  layout.pp = integer_at<int>(j, "pp");
  layout.tp = integer_at<int>(j, "tp");
  layout.dp = integer_at<int>(j, "dp");
  layout.virtual_stages = integer_at<int>(j, "virtual_stages");
  layout.microbatch_size = integer_at<int>(j, "microbatch_size");
  layout.microbatches = integer_at<int>(j, "microbatches");
  layout.schedule = j.at("schedule").get<std::string>();
  layout.stage_layers = integers_at<int>(j, "stage_layers");
  return layout;
}

// A file name a manifest may give: a plain name inside the step folder.
bool plain_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
         name != "." && name.find("..") == std::string::npos && name.find('\0') == std::string::npos;
}

Manifest manifest_from(const json& j) {
  Manifest m;
  m.step = integer_at<std::int64_t>(j, "step");
  m.updates_done = integer_at<std::int64_t>(j, "updates_done");
  m.loss_scale = j.at("loss_scaler").at("scale").get<double>();
  m.loss_scale_clean_steps = integer_at<std::int64_t>(j.at("loss_scaler"), "clean_steps");
  m.layout = layout_from(j.at("layout"));
  m.precision = j.at("precision").get<std::string>();
  m.config_crc32 = j.at("config_crc32").get<std::string>();
  m.model_name = j.at("model_name").get<std::string>();
  m.plugins = j.at("plugins").get<std::map<std::string, std::string>>();
  m.seed = integer_at<std::uint64_t>(j, "seed");
  const json& data = j.at("data");
  m.global_batch = integer_at<std::int64_t>(data, "global_batch");
  m.sequences_consumed = integer_at<std::int64_t>(data, "sequences_consumed");
  m.data_train = data.at("train").get<std::string>();
  m.optimizer_states = j.at("optimizer_states").get<std::vector<std::string>>();
  for (const json& f : j.at("files")) {
    m.files.push_back({f.at("name").get<std::string>(), integer_at<int>(f, "pp"), integer_at<int>(f, "tp"),
                       integer_at<std::uint64_t>(f, "bytes"), integer_at<std::uint32_t>(f, "crc32"),
                       integer_at<std::uint64_t>(f, "rng_offset")});
  }
  for (const auto& [name, t] : j.at("tensors").items()) {
    m.tensors[name] = {integers_at<std::int64_t>(t, "global_shape"), integer_at<int>(t, "shard_dim"),
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
    for (const std::int64_t dim : tensor.global_shape) {
      if (dim < 0) return input_error("{}: tensor {} has a negative dimension {}", source, name, dim);
    }
    if (tensor.shard_dim < -1 || tensor.shard_dim >= static_cast<int>(tensor.global_shape.size())) {
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
    const json version = j.value("version", json(0));
    if (!version.is_number_integer() || version.get<std::int64_t>() != kManifestVersion) {
      return input_error("{}: manifest version {}; this llmrt reads version {}", source, version.dump(),
                         kManifestVersion);
    }
    Manifest manifest = manifest_from(j);
    LLMRT_RETURN_IF_ERROR(check_manifest(manifest, source));
    return manifest;
  } catch (const json::exception& error) {
    return input_error("{}: {}", source, error.what());
  } catch (const FieldError& error) {
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
