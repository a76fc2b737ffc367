// The one kernel of the device seam's own: ComputeDevice::sum_in_order on CUDA (the step's
// microbatch losses summed on the device, in the host's order and bits). Built with nvcc only
// when LLMRT_HAVE_CUDA; called from cuda_device.cpp.
#pragma once

#include <cstddef>

#include <cuda_runtime.h>

namespace llmrt {

// *total (one f64, device) = 0 + values[0] + ... + values[count - 1] (count f32, device), each
// widened to f64, left to right. Queued on `stream`; returns the launch's error (cudaSuccess).
cudaError_t launch_sum_in_order(double* total, const float* values, std::size_t count, cudaStream_t stream);

}  // namespace llmrt
