// Fast fp32 CPU kernels: OpenBLAS sgemm for matmuls, OpenMP loops the compiler vectorises for
// the rest. Same signatures and contracts as the ref/ twin (kernel_signatures.inc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace llmrt::kernels::cpu {
#include "ref/kernel_signatures.inc"

// out = (inp - mean) * rstd * weight + bias per row, from statistics layernorm_forward saved:
// the same values it wrote to `out` (one row function serves both), for layers that recompute
// a LayerNorm output in backward (selective recompute). out, inp: (N, C); mean, rstd: (N).
void layernorm_apply(float* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                     const float* bias, int N, int C);

// Threads this rank's kernels use: sets OpenBLAS's pool and the OpenMP team size of every
// kernel here. The two pools take turns (attention, the one kernel that calls BLAS inside an
// OpenMP region, makes BLAS single-threaded meanwhile), so the rank never runs more than n
// busy threads. n < 1 is treated as 1.
void set_cpu_threads(int n);
// The current setting; before any set_cpu_threads, OpenMP's default (OMP_NUM_THREADS or cores).
int cpu_threads();
}  // namespace llmrt::kernels::cpu
