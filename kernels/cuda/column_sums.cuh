// Column reductions over (N, C) row-major data, the shape of every parameter gradient of a
// position-wise layer (layernorm's dweight/dbias, RMSNorm's dweight, a bias gradient): per-block
// partial sums in shared memory, then one fp32 atomic per column per block, instead of one
// atomic per element per row. Internal to kernels/cuda/.
#pragma once

#include "cuda/device_utils.cuh"
#include "cuda/launch_plan.h"

namespace llmrt::kernels::cuda::detail {

inline constexpr int kColumnRowsPerBlock = ColumnSumsGrid::kRowsPerBlock;  // blockDim.y

// out[k][c] += sum over rows of term(row, c)[k], k < K. Block (32, kColumnRowsPerBlock): x is a
// column of the 32-column tile blockIdx.x (a warp reads 32 adjacent elements of a row), y
// strides rows together with blockIdx.y. term(row, c, float (&v)[K]) writes the row's terms.
template <int K, typename Term>
__global__ void column_sums_kernel(float* out0, float* out1, int N, int C, Term term) {
  static_assert(K == 1 || K == 2, "one or two outputs");
  __shared__ float part[K][kColumnRowsPerBlock][33];  // 33: no bank conflicts on the column sum
  const int c = blockIdx.x * 32 + threadIdx.x;
  float acc[K] = {};
  if (c < C) {
    for (int row = blockIdx.y * kColumnRowsPerBlock + threadIdx.y; row < N; row += gridDim.y * kColumnRowsPerBlock) {
      float v[K];
      term(row, c, v);
#pragma unroll
      for (int k = 0; k < K; k++) acc[k] += v[k];
    }
  }
#pragma unroll
  for (int k = 0; k < K; k++) part[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();  // outside any branch: every thread of the block arrives
  if (threadIdx.y == 0 && c < C) {
#pragma unroll
    for (int k = 0; k < K; k++) {
      for (int y = 1; y < kColumnRowsPerBlock; y++) acc[k] += part[k][y][threadIdx.x];
    }
    atomicAdd(&out0[c], acc[0]);
    if constexpr (K == 2) atomicAdd(&out1[c], acc[1]);
  }
}

inline int sm_count() {
  int device = 0, sms = 0;
  LLMRT_CUDA_CHECK(cudaGetDevice(&device));
  LLMRT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

// out0 (and out1 when K == 2): (C) fp32 +=; the grid from column_sums_grid (launch_plan.h).
template <int K, typename Term>
void launch_column_sums(float* out0, float* out1, int N, int C, Term term, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  const ColumnSumsGrid grid = column_sums_grid(std::size_t(N), std::size_t(C), sm_count());
  column_sums_kernel<K><<<dim3(grid.tiles, grid.row_blocks), dim3(32, kColumnRowsPerBlock), 0, stream>>>(
      out0, out1, N, C, term);
  LLMRT_CUDA_CHECK_LAUNCH();
}

}  // namespace llmrt::kernels::cuda::detail
