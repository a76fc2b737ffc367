// ComputeDevice::sum_in_order on CUDA. The values are a step's microbatch losses (tens to a
// few thousand floats): one thread adds them in index order, so the result is the host loop's
// to the bit (f64 adds only, nothing for the compiler to contract into an FMA). A parallel
// reduction would change the order and the bits, and would not be measurably faster at this size.
#include "device/cuda_sum_in_order.h"

namespace llmrt {
namespace {

// total: (1) f64; values: (count) f32. Launched as <<<1, 1>>>.
__global__ void sum_in_order_kernel(double* total, const float* values, std::size_t count) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double sum = 0;
  for (std::size_t i = 0; i < count; ++i) sum += static_cast<double>(values[i]);
  *total = sum;
}

}  // namespace

cudaError_t launch_sum_in_order(double* total, const float* values, std::size_t count, cudaStream_t stream) {
  sum_in_order_kernel<<<1, 1, 0, stream>>>(total, values, count);
  return cudaGetLastError();
}

}  // namespace llmrt
