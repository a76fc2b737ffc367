// The model as a whole: every parameter at its global (unsharded) shape in fp32, by its
// checkpoint name (ParamEntry::name: "gpt.block[3].qkv_w", or a tie name such as "wte").
// What a consolidated export holds, what init_from and sampling start from, and what a
// checkpoint is reassembled into before it is re-split for another layout.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace llmrt {

struct GlobalTensor {
  std::vector<std::int64_t> shape;
  std::vector<float> values;  // product(shape), row-major
};

using ModelTensors = std::map<std::string, GlobalTensor>;

}  // namespace llmrt
