// What the metrics endpoint reports per GPU, and the seam it reads it through: NVML on a GPU
// host (obs/nvml_reader.h), a fake in tests. Every field NVML may not support is optional.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace llmrt::obs {

struct GpuReading {
  int index = 0;           // NVML's index on this host: DCGM's `gpu` label
  std::string uuid;        // "GPU-8f6c...": DCGM's `UUID` label
  std::string model_name;  // "NVIDIA H100 80GB HBM3": DCGM's `modelName` label
  std::optional<double> utilization_ratio;  // 0-1 over NVML's last sample period
  std::optional<double> memory_used_bytes;
  std::optional<double> temperature_celsius;
  std::optional<double> power_watts;
  std::optional<double> energy_joules;  // since the driver loaded
};

class GpuReader {
 public:
  virtual ~GpuReader() = default;
  // Every GPU of this host, in index order. Called from the endpoint's thread at each scrape.
  virtual std::vector<GpuReading> read() = 0;
};

}  // namespace llmrt::obs
