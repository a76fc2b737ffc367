#include "exec/cpu_threads.h"

#include <cstdlib>
#include <string>

namespace llmrt {

void configure_cpu_threads(int threads) {
  const std::string count = std::to_string(threads);
  setenv("OMP_NUM_THREADS", count.c_str(), 1);
  setenv("OPENBLAS_NUM_THREADS", count.c_str(), 1);
  setenv("OMP_WAIT_POLICY", "passive", 0);
  setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
}

void configure_cpu_threads_for(const ClusterSpec& cluster, bool launched) {
  const NodeSpec& node = cluster.nodes.front();
  if (node.is_cpu()) configure_cpu_threads(node.cpu_threads_per_rank * (launched ? 1 : node.cpu_ranks));
}

}  // namespace llmrt
