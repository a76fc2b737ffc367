// `llmrt ckpt inspect DIR` and `llmrt ckpt export DIR OUT`: a checkpoint read without training.
#pragma once

#include <ostream>
#include <string>

#include "util/status.h"

namespace llmrt {

// Step, layout, precision, data position, tensors with shapes and sizes, and every file's
// checksum verified; a bad file is named and the status is a runtime error (exit 1).
Status inspect_checkpoint(const std::string& path, std::ostream& out);

// One safetensors file at `out_path`: every parameter at its global shape (names as in the
// manifest, no optimizer state), metadata "step" and "config" (the run's config.toml).
Status export_checkpoint(const std::string& path, const std::string& out_path, std::ostream& out);

}  // namespace llmrt
