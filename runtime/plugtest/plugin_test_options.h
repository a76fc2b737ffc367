// What `llmrt plugins test NAME [--plugin FILE] [--shape B,T] [--tp N] [--dtype f32|bf16] [--seed S]
// [--set key=value ...]` asked for (parsed in cli/main.cpp).
#pragma once

#include <string>
#include <vector>

namespace llmrt::plugtest {

struct PluginTestOptions {
  std::string name;                       // the component
  std::vector<std::string> plugin_files;  // --plugin FILE|DIR: searched after the built-in plugins
  std::string shape;                      // --shape B,T (default 2,5)
  int tp = 1;                             // --tp N: run under `mpirun -np N`
  std::string dtype = "f32";              // --dtype f32|bf16: bf16 adds the bf16-against-f32 check
  unsigned seed = 1234;                   // --seed: inputs and parameters
};

}  // namespace llmrt::plugtest
