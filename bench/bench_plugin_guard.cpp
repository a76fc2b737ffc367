// What naming a misbehaving plugin costs a healthy run: every plugin call is wrapped in a
// PluginCallScope (runtime/plugin/plugin_guard.h) that records the call's text for the crash and
// exit handlers and the watch thread. This times one scope, entered and left, as the executor
// makes it around a layer's forward; docs/PERFORMANCE.md multiplies it by the calls of a step.
//   bench_plugin_guard [CALLS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "plugin/plugin_guard.h"

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::atol(argv[1]) : 1000000;
  if (calls <= 0) {
    std::fprintf(stderr, "bench_plugin_guard: CALLS must be a positive count\n");
    return 2;
  }
  llmrt::install_plugin_guard();
  llmrt::set_plugin_call_rank(0, "pp 0 · tp 0 · dp 0");
  llmrt::set_plugin_call_step(1);
  const std::string file = "/opt/llmrt/lib/llmrt/plugins/llmrt_gpt.so", component = "layer 'gpt.block'";
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < calls; ++i) {
    const llmrt::PluginCallScope scope(file, component, "forward", "gpt.block[3] forward (microbatch 2)",
                                       static_cast<int>(i & 7));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("plugin call scope: %.0f ns per call (%ld calls, %.3f s)\n", seconds / static_cast<double>(calls) * 1e9,
              calls, seconds);
  return 0;
}
