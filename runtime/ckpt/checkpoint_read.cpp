#include "ckpt/checkpoint_read.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace llmrt {
namespace fs = std::filesystem;

Result<std::string> latest_step_dir(const std::string& checkpoint_dir) {
  const std::string path = checkpoint_dir + "/latest";
  std::error_code error;
  if (!fs::exists(path, error)) return std::string();
  std::ifstream file(path);
  std::string name;
  if (!file || !std::getline(file, name)) return input_error("{}: cannot read", path);
  if (step_of_dir_name(name) < 0) {
    return input_error("{}: names \"{}\"; expected a step folder such as \"step_00000500\"", path, name);
  }
  return checkpoint_dir + "/" + name;
}

Result<std::string> resolve_step_dir(const std::string& path) {
  std::error_code error;
  if (fs::exists(path + "/manifest.json", error)) return path;
  if (!fs::is_directory(path, error)) return input_error("{}: no such checkpoint folder", path);
  LLMRT_ASSIGN_OR_RETURN(std::string latest, latest_step_dir(path));
  if (latest.empty()) return input_error("{}: neither a step folder (no manifest.json) nor a checkpoint.dir with a `latest`", path);
  return latest;
}

std::vector<std::string> complete_step_dirs(const std::string& checkpoint_dir) {
  std::vector<std::pair<std::int64_t, std::string>> found;
  std::error_code error;
  for (const auto& item : fs::directory_iterator(checkpoint_dir, error)) {
    const std::int64_t step = step_of_dir_name(item.path().filename().string());
    if (step >= 0 && fs::exists(item.path() / "manifest.json", error)) found.emplace_back(step, item.path().string());
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> dirs;
  for (auto& [step, dir] : found) dirs.push_back(std::move(dir));
  return dirs;
}

Status verify_checkpoint(const std::string& step_dir, const Manifest& manifest) {
  for (const CheckpointFile& expected : manifest.files) {
    const std::string path = step_dir + "/" + expected.name;
    auto found = checksum_file(path);
    if (!found) return runtime_error("{}", found.error().message());
    if (found->bytes != expected.bytes) {
      return runtime_error("{}: {} bytes, the manifest says {} (truncated or replaced)", path, found->bytes, expected.bytes);
    }
    if (found->crc32 != expected.crc32) {
      return runtime_error("{}: CRC-32 {:08x}, the manifest says {:08x} (the file is damaged)", path, found->crc32,
                           expected.crc32);
    }
  }
  return Status::success();
}

Result<const SafetensorsFile*> CheckpointReader::file(const std::string& name) {
  auto found = open_.find(name);
  if (found != open_.end()) return found->second.get();
  LLMRT_ASSIGN_OR_RETURN(SafetensorsFile opened, SafetensorsFile::open(step_dir_ + "/" + name));
  auto& slot = open_[name];
  slot = std::make_unique<SafetensorsFile>(std::move(opened));
  return slot.get();
}

std::vector<float> concat_along(const std::vector<std::vector<float>>& slices, const std::vector<std::int64_t>& global,
                                int dim) {
  if (dim < 0 || slices.size() == 1) return slices.front();
  std::size_t outer = 1, inner = 1, total = 1;
  for (auto extent : global) total *= static_cast<std::size_t>(extent);
  for (int d = 0; d < dim; ++d) outer *= static_cast<std::size_t>(global[static_cast<std::size_t>(d)]);
  for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < global.size(); ++d) inner *= static_cast<std::size_t>(global[d]);
  const std::size_t part = static_cast<std::size_t>(global[static_cast<std::size_t>(dim)]) / slices.size();
  std::vector<float> out(total);
  for (std::size_t s = 0; s < slices.size(); ++s) {
    for (std::size_t o = 0; o < outer; ++o) {
      const float* from = slices[s].data() + o * part * inner;
      std::copy(from, from + part * inner, out.begin() + static_cast<std::ptrdiff_t>((o * slices.size() + s) * part * inner));
    }
  }
  return out;
}

Result<GlobalTensor> CheckpointReader::global_tensor(const std::string& name, const std::string& state) {
  auto found = manifest_.tensors.find(name);
  if (found == manifest_.tensors.end()) return input_error("{}: the checkpoint has no tensor {}", step_dir_, name);
  const CheckpointTensor& tensor = found->second;
  const std::string stored = state.empty() ? name : name + "/" + state;
  std::vector<std::vector<float>> slices;
  const std::size_t parts = tensor.shard_dim < 0 ? 1 : tensor.files.size();
  std::int64_t expected = 1;
  for (auto extent : tensor.global_shape) expected *= extent;
  expected /= static_cast<std::int64_t>(parts);
  for (std::size_t part = 0; part < parts; ++part) {
    LLMRT_ASSIGN_OR_RETURN(const SafetensorsFile* file, this->file(tensor.files[part]));
    if (!file->contains(stored)) return input_error("{}: no tensor {} (the manifest lists it)", file->path(), stored);
    if (file->entries().at(stored).elements() != expected) {
      return input_error("{}: tensor {} has {} elements; the manifest's shape {} over {} slices needs {}", file->path(),
                         stored, file->entries().at(stored).elements(), fmt::join(tensor.global_shape, "×"), parts,
                         expected);
    }
    LLMRT_ASSIGN_OR_RETURN(auto values, file->read_f32(stored));
    slices.push_back(std::move(values));
  }
  return GlobalTensor{tensor.global_shape, concat_along(slices, tensor.global_shape, tensor.shard_dim)};
}

Result<ModelTensors> read_checkpoint_model(const std::string& path) {
  LLMRT_ASSIGN_OR_RETURN(std::string step_dir, resolve_step_dir(path));
  LLMRT_ASSIGN_OR_RETURN(Manifest manifest, read_manifest(step_dir));
  LLMRT_RETURN_IF_ERROR(verify_checkpoint(step_dir, manifest));
  CheckpointReader reader(step_dir, std::move(manifest));
  ModelTensors model;
  for (const auto& [name, tensor] : reader.manifest().tensors) {
    LLMRT_ASSIGN_OR_RETURN(model[name], reader.global_tensor(name));
  }
  return model;
}

}  // namespace llmrt
