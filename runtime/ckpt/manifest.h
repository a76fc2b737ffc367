// A checkpoint's manifest.json: what was saved (every tensor's global shape, shard dimension and
// the files holding its tensor-parallel slices; every file's size and CRC-32) and the training
// state beside it (step, updates, loss scale, layout, data position, RNG). Written by rank 0 last,
// so a step folder with a manifest is complete; read by resume, `ckpt inspect` and `ckpt export`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace llmrt {

inline constexpr int kManifestVersion = 1;

struct CheckpointFile {
  std::string name;        // "pp1-tp0.safetensors", inside the step folder
  int pp = 0, tp = 0;      // the writing rank's coordinates
  std::uint64_t bytes = 0;
  std::uint32_t crc32 = 0;
  std::uint64_t rng_offset = 0;  // the writing rank's plugin RNG stream
};

struct CheckpointTensor {
  std::vector<std::int64_t> global_shape;
  int shard_dim = -1;              // LLMRT_NO_SHARD (-1): every tp slice is the whole tensor
  bool tied = false;
  std::vector<std::string> files;  // [tp rank of the writing layout] the file holding that slice
};

struct CheckpointLayout {
  int pp = 1, tp = 1, dp = 1, virtual_stages = 1;
  int microbatch_size = 1, microbatches = 1;
  std::string schedule;
  std::vector<int> stage_layers;
  std::string label() const;  // "pp2 tp1 dp1"
};

struct Manifest {
  std::int64_t step = 0;
  std::int64_t updates_done = 0;
  double loss_scale = 1;
  std::int64_t loss_scale_clean_steps = 0;
  CheckpointLayout layout;
  std::string precision;                         // "fp32", "bf16", ...
  std::string config_crc32;                      // of config.toml beside it (hex)
  std::string model_name;
  std::map<std::string, std::string> plugins;    // name → version
  std::uint64_t seed = 0;
  std::int64_t global_batch = 0;
  std::int64_t sequences_consumed = 0;           // step × global_batch: the data position
  std::string data_train;                        // data.train ("" = the seeded random tokens)
  std::vector<std::string> optimizer_states;     // "exp_avg", ...: file tensors NAME/STATE
  std::vector<CheckpointFile> files;
  std::map<std::string, CheckpointTensor> tensors;  // by ParamEntry name

  const CheckpointFile* file(const std::string& name) const;
};

std::string manifest_json(const Manifest& manifest);
// Parses and checks a manifest: every field present and typed, file names plain names inside
// the folder (no "/", no ".."), every tensor's files listed. `source` names it in errors.
Result<Manifest> parse_manifest(const std::string& text, const std::string& source);
Result<Manifest> read_manifest(const std::string& step_dir);

// "step_00000500"
std::string step_dir_name(std::int64_t step);
// The step of a "step_00000500" name, or -1 (a ".tmp" folder, anything else).
std::int64_t step_of_dir_name(const std::string& name);

}  // namespace llmrt
