#include "obs/nvml_reader.h"

#include <dlfcn.h>

#include <fmt/format.h>

namespace llmrt::obs {
namespace {

// The slice of nvml.h this reader uses (NVML's C ABI, stable across driver versions).
using nvmlReturn_t = int;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned int gpu;
  unsigned int memory;
};
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr int NVML_TEMPERATURE_GPU = 0;

struct NvmlApi {
  nvmlReturn_t (*init)();
  nvmlReturn_t (*shutdown)();
  nvmlReturn_t (*device_count)(unsigned int*);
  nvmlReturn_t (*device_by_index)(unsigned int, nvmlDevice_t*);
  nvmlReturn_t (*uuid)(nvmlDevice_t, char*, unsigned int);
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned int);
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*);
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*);
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned int*);
  nvmlReturn_t (*power)(nvmlDevice_t, unsigned int*);
  nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long*);
};

template <typename Function>
bool bind(void* library, const char* symbol, Function& out) {
  out = reinterpret_cast<Function>(dlsym(library, symbol));
  return out != nullptr;
}

// The library stays loaded for the process: NVML's own threads may outlive a dlclose.
std::optional<NvmlApi> load_nvml(std::string& why) {
  void* library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    why = fmt::format("libnvidia-ml.so.1 not loaded: {}", dlerror());
    return std::nullopt;
  }
  NvmlApi api{};
  const bool bound = bind(library, "nvmlInit_v2", api.init) && bind(library, "nvmlShutdown", api.shutdown) &&
                     bind(library, "nvmlDeviceGetCount_v2", api.device_count) &&
                     bind(library, "nvmlDeviceGetHandleByIndex_v2", api.device_by_index) &&
                     bind(library, "nvmlDeviceGetUUID", api.uuid) && bind(library, "nvmlDeviceGetName", api.name) &&
                     bind(library, "nvmlDeviceGetUtilizationRates", api.utilization) &&
                     bind(library, "nvmlDeviceGetMemoryInfo", api.memory) &&
                     bind(library, "nvmlDeviceGetTemperature", api.temperature) &&
                     bind(library, "nvmlDeviceGetPowerUsage", api.power) &&
                     bind(library, "nvmlDeviceGetTotalEnergyConsumption", api.energy);
  if (!bound) {
    why = "libnvidia-ml.so.1 lacks an NVML function llmrt reads";
    return std::nullopt;
  }
  return api;
}

template <typename T, typename Call>
std::optional<T> read_if(Call call) {
  T value{};
  if (call(&value) != NVML_SUCCESS) return std::nullopt;
  return value;
}

class NvmlReader final : public GpuReader {
 public:
  explicit NvmlReader(const NvmlApi& api) : api_(api) {}
  ~NvmlReader() override { api_.shutdown(); }
  NvmlReader(const NvmlReader&) = delete;
  NvmlReader& operator=(const NvmlReader&) = delete;

  std::vector<GpuReading> read() override {
    std::vector<GpuReading> readings;
    unsigned int count = 0;
    if (api_.device_count(&count) != NVML_SUCCESS) return readings;
    for (unsigned int index = 0; index < count; ++index) {
      nvmlDevice_t device = nullptr;
      if (api_.device_by_index(index, &device) != NVML_SUCCESS) continue;
      readings.push_back(to_gpu_reading(read_device(static_cast<int>(index), device)));
    }
    return readings;
  }

 private:
  NvmlRawReading read_device(int index, nvmlDevice_t device) const {
    NvmlRawReading raw;
    raw.index = index;
    char text[128] = {};
    if (api_.uuid(device, text, sizeof(text)) == NVML_SUCCESS) raw.uuid = text;
    text[0] = '\0';
    if (api_.name(device, text, sizeof(text)) == NVML_SUCCESS) raw.name = text;
    if (auto rates = read_if<nvmlUtilization_t>([&](auto* out) { return api_.utilization(device, out); })) {
      raw.utilization_percent = rates->gpu;
    }
    if (auto memory = read_if<nvmlMemory_t>([&](auto* out) { return api_.memory(device, out); })) {
      raw.memory_used_bytes = memory->used;
    }
    raw.temperature_celsius =
        read_if<unsigned int>([&](auto* out) { return api_.temperature(device, NVML_TEMPERATURE_GPU, out); });
    raw.power_milliwatts = read_if<unsigned int>([&](auto* out) { return api_.power(device, out); });
    raw.energy_millijoules = read_if<unsigned long long>([&](auto* out) { return api_.energy(device, out); });
    return raw;
  }

  NvmlApi api_;
};

}  // namespace

GpuReading to_gpu_reading(const NvmlRawReading& raw) {
  GpuReading reading;
  reading.index = raw.index;
  reading.uuid = raw.uuid;
  reading.model_name = raw.name;
  if (raw.utilization_percent) reading.utilization_ratio = *raw.utilization_percent / 100.0;
  if (raw.memory_used_bytes) reading.memory_used_bytes = static_cast<double>(*raw.memory_used_bytes);
  if (raw.temperature_celsius) reading.temperature_celsius = *raw.temperature_celsius;
  if (raw.power_milliwatts) reading.power_watts = *raw.power_milliwatts / 1000.0;
  if (raw.energy_millijoules) reading.energy_joules = static_cast<double>(*raw.energy_millijoules) / 1000.0;
  return reading;
}

std::unique_ptr<GpuReader> open_nvml_reader(std::string* why) {
  std::string reason;
  std::optional<NvmlApi> api = load_nvml(reason);
  if (api && api->init() != NVML_SUCCESS) {
    reason = "nvmlInit_v2 failed (no NVIDIA driver running?)";
    api.reset();
  }
  if (!api) {
    if (why != nullptr) *why = reason;
    return nullptr;
  }
  return std::make_unique<NvmlReader>(*api);
}

}  // namespace llmrt::obs
