// GPU readings from NVML, loaded at run time with dlopen("libnvidia-ml.so.1") and never linked:
// a host without the NVIDIA driver runs the same binary and simply reports no GPU series.
// Rank 0 reads every GPU of its own host (docs/watching.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "obs/gpu_reader.h"

namespace llmrt::obs {

// NVML's raw units, as its calls return them; absent where the call failed or is unsupported.
struct NvmlRawReading {
  int index = 0;
  std::string uuid;
  std::string name;
  std::optional<unsigned> utilization_percent;   // nvmlDeviceGetUtilizationRates().gpu
  std::optional<std::uint64_t> memory_used_bytes;  // nvmlDeviceGetMemoryInfo().used
  std::optional<unsigned> temperature_celsius;   // nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)
  std::optional<unsigned> power_milliwatts;      // nvmlDeviceGetPowerUsage
  std::optional<std::uint64_t> energy_millijoules;  // nvmlDeviceGetTotalEnergyConsumption
};

// Base units for the endpoint: percent → ratio, mW → W, mJ → J.
GpuReading to_gpu_reading(const NvmlRawReading& raw);

// A reader over every GPU NVML sees, or nullptr when NVML cannot be loaded or initialised here
// (`why` says which, for a log line; it is not an error).
std::unique_ptr<GpuReader> open_nvml_reader(std::string* why = nullptr);

}  // namespace llmrt::obs
