// A CUDA GPU as a device: cudaMalloc memory, copies and fills on streams, CUDA events, and the
// optimizer step's reductions and precision conversions as kernels/cuda kernels on the stream.
// Built only with LLMRT_CUDA (LLMRT_HAVE_CUDA); tested by tests/cuda/cuda_device_test.cpp.
#pragma once

#include "device/device.h"

namespace llmrt {

// The ComputeDevice of CUDA ordinal `index` (one per ordinal, for the process); nullptr when the
// ordinal does not exist or there is no usable driver.
ComputeDevice* cuda_device(int index);

// cudaStreamSynchronize on a plugin's stream (the cudaStream_t itself, by convention).
Status synchronize_cuda_stream(llmrt_stream* stream);

// A device-to-device copy queued on a plugin's stream (NULL: the legacy default stream).
Status copy_on_cuda_stream(void* dst, const void* src, std::size_t bytes, llmrt_stream* stream);

}  // namespace llmrt
