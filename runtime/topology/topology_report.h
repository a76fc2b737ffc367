// The human summary of a Topology that `llmrt check` prints: nodes, NVLink islands, links,
// network, world size, power and peak throughput. Plain aligned text, no colours.
#pragma once

#include <string>

#include "config/spec.h"
#include "topology/topology.h"

namespace llmrt {

// `cluster` must be the spec `topology` was built from (it gives names, network kind, overhead).
std::string format_topology(const Topology& topology, const ClusterSpec& cluster);

}  // namespace llmrt
