// What this host has to run ranks on: its name and the CUDA GPUs this process can see, in PCI
// bus order (the order a topology's GPU indices follow). With LLMRT_CUDA the CUDA runtime is
// asked (it applies CUDA_VISIBLE_DEVICES itself); a build without CUDA sees no GPU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device/device.h"
#include "util/status.h"

namespace llmrt {

struct HostGpu {
  int ordinal = 0;             // the CUDA ordinal (cudaSetDevice), which need not be the PCI order
  std::string name;            // cudaDeviceProp::name, e.g. "NVIDIA H100 80GB HBM3"
  std::uint64_t memory_bytes = 0;  // cudaDeviceProp::totalGlobalMem
  std::string pci_bus_id;      // "0000:1B:00.0"
};

struct HostDevices {
  std::vector<HostGpu> gpus;   // sorted by pci_bus_id
  std::string why_none;        // when gpus is empty: the CUDA error string, or "this build has no CUDA"
};

// The GPUs this process can use. Never fails: a missing driver is an answer (why_none).
HostDevices discover_host_devices();

// gethostname(), or "unknown-host" when it fails.
std::string this_host_name();

// Makes `ordinal` this process's current CUDA device (cudaSetDevice) and returns it as the
// ComputeDevice its tensors live on; the CUDA error string on failure, an input error in a
// build without CUDA.
Result<ComputeDevice*> bind_cuda_device(int ordinal);

}  // namespace llmrt
