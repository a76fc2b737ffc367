// A CUDA GPU as a device: cudaMallocAsync memory, copies and fills on streams, CUDA events.
// Built only with LLMRT_CUDA (LLMRT_HAVE_CUDA); compiled here, exercised by the GPU path.
#pragma once

#include "device/device.h"

namespace llmrt {

// The ComputeDevice of CUDA ordinal `index` (one per ordinal, for the process); nullptr when the
// ordinal does not exist or there is no usable driver.
ComputeDevice* cuda_device(int index);

// cudaStreamSynchronize on a plugin's stream (the cudaStream_t itself, by convention).
Status synchronize_cuda_stream(llmrt_stream* stream);

}  // namespace llmrt
