// Config keys that are read and checked but that no feature acts on yet ([checkpoint], data.val,
// ...): one warning each, so that a user who writes one learns what the run
// does not do instead of finding out afterwards. `check` and `run` print these.
#pragma once

#include <string>
#include <vector>

#include "config/spec.h"

namespace llmrt {

// One line per key the user wrote (in a file or with --set) whose value asks for something not
// built yet, naming the key, its value, what the run does without it and where it was written:
//   "checkpoint.every = 500: checkpoints are not built yet; this run keeps none (job.toml:40:9)"
// A key left at its default, or written with a value that turns its feature off
// (val = "", every = 0, resume = "never"), warns nothing. Remove a key's entry here
// when its feature lands.
std::vector<std::string> unbuilt_key_warnings(const Spec& spec);

}  // namespace llmrt
