// Reading a complete checkpoint without a trainer: finding it (a step folder, or a checkpoint.dir
// and its `latest`), checking its files' CRC-32s, and reassembling global tensors from the
// tensor-parallel slices of the layout that wrote it. Resume, `ckpt inspect`, `ckpt export`,
// sampling and HF export all read through here.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ckpt/manifest.h"
#include "ckpt/model_tensors.h"
#include "ckpt/safetensors.h"
#include "util/status.h"

namespace llmrt {

// `path` is a step folder (it holds manifest.json) or a checkpoint.dir (its `latest` names one).
Result<std::string> resolve_step_dir(const std::string& path);
// The step folder `latest` names in checkpoint.dir, or "" when there is no `latest`.
Result<std::string> latest_step_dir(const std::string& checkpoint_dir);
// Complete step folders (with a manifest) in checkpoint.dir, newest first; ".tmp" ones never.
std::vector<std::string> complete_step_dirs(const std::string& checkpoint_dir);

// Every file's size and CRC-32 against the manifest; the error names the first bad file.
Status verify_checkpoint(const std::string& step_dir, const Manifest& manifest);

// A checkpoint's files opened on demand (mmap), for reassembling tensors.
class CheckpointReader {
 public:
  CheckpointReader(std::string step_dir, Manifest manifest)
      : step_dir_(std::move(step_dir)), manifest_(std::move(manifest)) {}
  const Manifest& manifest() const { return manifest_; }
  const std::string& step_dir() const { return step_dir_; }
  // Tensor `name` (a parameter), or its optimizer state `state` when given, at its global
  // shape: the writing layout's tp slices concatenated along the shard dimension.
  Result<GlobalTensor> global_tensor(const std::string& name, const std::string& state = "");

 private:
  Result<const SafetensorsFile*> file(const std::string& name);
  std::string step_dir_;
  Manifest manifest_;
  std::map<std::string, std::unique_ptr<SafetensorsFile>> open_;
};

// The model's parameters (no optimizer state) at global shapes from `path` (a step folder, or a
// checkpoint.dir → its latest), checksums verified first.
Result<ModelTensors> read_checkpoint_model(const std::string& path);

// The inverse of slice_along: `slices` (tp of them, each `global` with dimension `dim` divided
// by tp) put side by side along `dim`.
std::vector<float> concat_along(const std::vector<std::vector<float>>& slices, const std::vector<std::int64_t>& global,
                                int dim);

}  // namespace llmrt
