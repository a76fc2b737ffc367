// Kernel threads of a CPU rank, set before any plugin (and so OpenBLAS and OpenMP) loads:
// both libraries read their settings from the environment when they start.
#pragma once

#include "config/spec.h"

namespace llmrt {

// `threads` for OpenMP and OpenBLAS. The two pools take turns (a GEMM, then element-wise
// kernels), so idle threads must sleep rather than spin and steal the other pool's cores:
// OpenMP waits passively and OpenBLAS stops spinning after 2^4 cycles. A value the user
// already exported wins.
void configure_cpu_threads(int threads);

// The threads of this rank's CPU node (nothing for a GPU node): threads_per_rank under a
// launcher; without one, a single rank does every CPU rank's work of the node and takes all
// their threads.
void configure_cpu_threads_for(const ClusterSpec& cluster, bool launched);

}  // namespace llmrt
