#include "device/host_devices.h"

#include <unistd.h>

#include <algorithm>
#include <array>

#if LLMRT_HAVE_CUDA
#include <cuda_runtime.h>

#include "device/cuda_device.h"
#endif

namespace llmrt {

std::string this_host_name() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "unknown-host";
  return std::string(name.data());
}

#if LLMRT_HAVE_CUDA

HostDevices discover_host_devices() {
  HostDevices found;
  int count = 0;
  const cudaError_t counted = cudaGetDeviceCount(&count);
  if (counted != cudaSuccess) {
    found.why_none = fmt::format("cudaGetDeviceCount: {}", cudaGetErrorString(counted));
    return found;
  }
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    cudaDeviceProp prop{};
    const cudaError_t asked = cudaGetDeviceProperties(&prop, ordinal);
    if (asked != cudaSuccess) {
      found.why_none = fmt::format("cudaGetDeviceProperties({}): {}", ordinal, cudaGetErrorString(asked));
      continue;
    }
    std::array<char, 32> bus{};
    if (cudaDeviceGetPCIBusId(bus.data(), static_cast<int>(bus.size()), ordinal) != cudaSuccess) {
      fmt::format_to_n(bus.data(), bus.size() - 1, "{:04x}:{:02x}:{:02x}.0", prop.pciDomainID, prop.pciBusID,
                       prop.pciDeviceID);
    }
    found.gpus.push_back(HostGpu{ordinal, prop.name, prop.totalGlobalMem, std::string(bus.data())});
  }
  // The topology numbers a node's GPUs as the bus does; CUDA's own order may be fastest-first.
  std::sort(found.gpus.begin(), found.gpus.end(),
            [](const HostGpu& a, const HostGpu& b) { return a.pci_bus_id < b.pci_bus_id; });
  if (found.gpus.empty() && found.why_none.empty()) found.why_none = "cudaGetDeviceCount: 0 devices";
  return found;
}

Result<ComputeDevice*> bind_cuda_device(int ordinal) {
  const cudaError_t err = cudaSetDevice(ordinal);
  if (err != cudaSuccess) return runtime_error("cudaSetDevice({}): {}", ordinal, cudaGetErrorString(err));
  ComputeDevice* device = cuda_device(ordinal);
  if (device == nullptr) return runtime_error("CUDA device {}: not usable after cudaSetDevice", ordinal);
  return device;
}

#else

HostDevices discover_host_devices() {
  return HostDevices{{}, "this build of llmrt has no CUDA (configure with -DLLMRT_CUDA=ON)"};
}

Result<ComputeDevice*> bind_cuda_device(int ordinal) {
  return input_error("CUDA device {}: this build of llmrt has no CUDA", ordinal);
}

#endif

}  // namespace llmrt
