// The checks `llmrt plugins test` runs on an optimizer (docs/plugins.md, "Testing a plugin"),
// against the optimizer ABI of today (flat buffers): its state specs, three steps over the
// whole buffer against the same steps over two halves (the host may split the buffer: ZeRO
// shards, buckets), finite results, that a step moves the parameters, determinism.
#pragma once

#include <cstddef>

#include "plugin/component_config.h"
#include "plugtest/check_report.h"
#include "util/status.h"

namespace llmrt::plugtest {

struct OptimizerTestSetup {
  const Component* component = nullptr;
  const ResolvedConfig* config = nullptr;
  unsigned seed = 1234;
  std::size_t elements = 37;  // odd, so that the halves differ in length
  double lr = 1e-2;
};

Status run_optimizer_checks(const OptimizerTestSetup& setup, CheckReport& report);

}  // namespace llmrt::plugtest
