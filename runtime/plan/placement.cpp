// Placement: which device each rank runs on, built from islands and nodes (never by searching
// permutations, so 16,384 devices cost one pass), and the links every tp, dp and pipeline
// group then uses, worst member first.
#include <algorithm>
#include <limits>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

// Cuts `devices` into groups of `size` in order; what does not fill a group goes to `rest`.
void cut_groups(const std::vector<int>& devices, int size, std::vector<std::vector<int>>& groups,
                std::vector<int>& rest) {
  const std::size_t whole = devices.size() / static_cast<std::size_t>(size) * static_cast<std::size_t>(size);
  for (std::size_t i = 0; i < whole; i += static_cast<std::size_t>(size)) {
    groups.emplace_back(devices.begin() + static_cast<std::ptrdiff_t>(i),
                        devices.begin() + static_cast<std::ptrdiff_t>(i) + size);
  }
  rest.insert(rest.end(), devices.begin() + static_cast<std::ptrdiff_t>(whole), devices.end());
}

// Groups of one device model side by side (in order of first appearance), so a pipeline
// stage of a mixed node is not bounded by its slowest card more often than needed.
void keep_models_together(const Topology& topology, std::vector<std::vector<int>>& groups) {
  std::vector<const DeviceModel*> order;
  for (const auto& group : groups) {
    const DeviceModel* model = topology.device(group.front()).model;
    if (std::find(order.begin(), order.end(), model) == order.end()) order.push_back(model);
  }
  std::stable_sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) {
    const auto rank_of = [&](const auto& g) {
      return std::find(order.begin(), order.end(), topology.device(g.front()).model) - order.begin();
    };
    return rank_of(a) < rank_of(b);
  });
}

// The tp groups in node order: inside one NVLink island where the island holds whole groups,
// else inside one node (PCIe), else across nodes from what every node left over.
std::vector<std::vector<int>> tp_groups(const Topology& topology, int tp) {
  std::vector<std::vector<const std::vector<int>*>> islands_of_node(static_cast<std::size_t>(topology.node_count()));
  for (const std::vector<int>& island : topology.islands()) {
    islands_of_node[static_cast<std::size_t>(topology.device(island.front()).node)].push_back(&island);
  }
  std::vector<std::vector<int>> groups;
  std::vector<int> across_nodes;
  for (const auto& islands : islands_of_node) {
    std::vector<std::vector<int>> node_groups;
    std::vector<int> node_rest;
    for (const std::vector<int>* island : islands) cut_groups(*island, tp, node_groups, node_rest);
    std::sort(node_rest.begin(), node_rest.end());
    cut_groups(node_rest, tp, node_groups, across_nodes);
    keep_models_together(topology, node_groups);
    groups.insert(groups.end(), node_groups.begin(), node_groups.end());
  }
  std::vector<int> unused;
  cut_groups(across_nodes, tp, groups, unused);
  return groups;
}

double bytes_per_s(double gbps, double efficiency) { return gbps * 1e9 / 8.0 * efficiency; }

LinkCost link_cost(const LinkInfo& link, double network_efficiency) {
  LinkCost cost;
  cost.latency_s = link.latency_us * 1e-6;
  cost.link_class = link.link_class;
  cost.bandwidth_gbps = link.bandwidth_gbps;
  cost.s_per_byte = link.bandwidth_gbps > 0 ? 1.0 / bytes_per_s(link.bandwidth_gbps, network_efficiency) : 0.0;
  return cost;
}

// The slower of two links (bandwidth first: messages here are megabytes).
const LinkCost& slower(const LinkCost& a, const LinkCost& b) {
  if (a.s_per_byte != b.s_per_byte) return a.s_per_byte > b.s_per_byte ? a : b;
  return a.latency_s >= b.latency_s ? a : b;
}

}  // namespace

LinkCost ring_cost(const Topology& topology, const std::vector<int>& devices, double network_efficiency) {
  LinkCost worst;
  if (devices.size() < 2) return worst;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const int next = devices[(i + 1) % devices.size()];
    worst = slower(worst, link_cost(topology.link_between(devices[i], next), network_efficiency));
  }
  return worst;
}

void share_network(LinkCost& cost, int sharers) {
  if (cost.link_class != LinkClass::kNetwork || sharers <= 1) return;
  cost.s_per_byte *= sharers;
  cost.sharers = sharers;
}

namespace {

void describe_devices(const Topology& topology, const PlacedDegrees& placed, Precision precision,
                      double compute_efficiency, std::vector<StageDevices>& stages) {
  const int per_stage = placed.degrees.tp * placed.degrees.dp;
  for (std::size_t r = 0; r < stages.size(); ++r) {
    StageDevices& stage = stages[r];
    stage.peak_flops = stage.achieved_flops = stage.memory_bandwidth = stage.min_memory_gib =
        stage.tp_nvlink_bandwidth_gbps = std::numeric_limits<double>::infinity();
    for (int i = 0; i < per_stage; ++i) {
      const Device& device = topology.device(placed.rank_to_device[r * static_cast<std::size_t>(per_stage) + i]);
      const double peak = training_peak_tflops(device, precision) * 1e12;
      stage.peak_flops = std::min(stage.peak_flops, peak);
      // A card's own efficiency (a 3090 reaches less of its peak than an A100): the slowest is
      // the one with the least achieved FLOP/s, not the least peak.
      const double achieved = peak * (device.compute_efficiency > 0 ? device.compute_efficiency : compute_efficiency);
      if (achieved < stage.achieved_flops) {
        stage.achieved_flops = achieved;
        stage.slowest_model = device.model->name;
      }
      stage.memory_bandwidth = std::min(stage.memory_bandwidth, device.memory_bandwidth_gbps() * 1e9 / 8.0);
      if (device.memory_gib() < stage.min_memory_gib) {
        stage.min_memory_gib = device.memory_gib();
        stage.smallest_model = device.model->name;
      }
      stage.tp_nvlink_bandwidth_gbps = std::min(stage.tp_nvlink_bandwidth_gbps, device.model->nvlink_bandwidth_gbps);
    }
  }
}

void describe_tp_rings(const Topology& topology, const PlacedDegrees& placed, double efficiency,
                       std::vector<StageDevices>& stages) {
  const Degrees& d = placed.degrees;
  for (int group = 0; group < d.pp * d.dp; ++group) {
    const auto first = placed.rank_to_device.begin() + static_cast<std::ptrdiff_t>(group) * d.tp;
    const std::vector<int> devices(first, first + d.tp);
    StageDevices& stage = stages[static_cast<std::size_t>(group / d.dp)];
    stage.tp_ring = slower(stage.tp_ring, ring_cost(topology, devices, efficiency));
    for (int device : devices) {
      if (topology.device(device).island != topology.device(devices.front()).island) stage.tp_crosses_island = true;
    }
  }
}

void describe_dp_rings(const Topology& topology, const PlacedDegrees& placed, double efficiency,
                       std::vector<StageDevices>& stages) {
  const Degrees& d = placed.degrees;
  std::vector<int> rings_leaving(static_cast<std::size_t>(topology.node_count()), 0);
  std::vector<int> last_ring(static_cast<std::size_t>(topology.node_count()), -1);
  std::vector<int> devices(static_cast<std::size_t>(d.dp));
  for (int r = 0; r < d.pp; ++r) {
    for (int t = 0; t < d.tp; ++t) {
      for (int k = 0; k < d.dp; ++k) devices[k] = placed.rank_to_device[t + d.tp * (k + d.dp * r)];
      const LinkCost ring = ring_cost(topology, devices, efficiency);
      stages[r].dp_ring = slower(stages[r].dp_ring, ring);
      if (ring.link_class != LinkClass::kNetwork) continue;
      const int ring_id = r * d.tp + t;
      for (int device : devices) {
        const auto node = static_cast<std::size_t>(topology.device(device).node);
        if (last_ring[node] != ring_id) ++rings_leaving[node], last_ring[node] = ring_id;
      }
    }
  }
  const int sharers = *std::max_element(rings_leaving.begin(), rings_leaving.end());
  for (StageDevices& stage : stages) share_network(stage.dp_ring, sharers);
}

// Pipeline neighbours (and the wrap-around interleaving uses): every replica's pair, the
// slowest kept, the network shared by all pairs leaving one node at the same boundary.
void describe_p2p(const Topology& topology, PlacedDegrees& placed, double efficiency) {
  const Degrees& d = placed.degrees;
  std::vector<std::pair<int, int>> pairs;
  for (int r = 0; r + 1 < d.pp; ++r) pairs.insert(pairs.end(), {{r, r + 1}, {r + 1, r}});
  if (d.pp > 2) pairs.insert(pairs.end(), {{d.pp - 1, 0}, {0, d.pp - 1}});
  std::vector<int> leaving(static_cast<std::size_t>(topology.node_count()), 0);
  for (const auto& [from, to] : pairs) {
    std::fill(leaving.begin(), leaving.end(), 0);
    LinkCost worst;
    for (int k = 0; k < d.dp; ++k) {
      for (int t = 0; t < d.tp; ++t) {
        const int a = placed.rank_to_device[t + d.tp * (k + d.dp * from)];
        const int b = placed.rank_to_device[t + d.tp * (k + d.dp * to)];
        worst = slower(worst, link_cost(topology.link_between(a, b), efficiency));
        if (topology.device(a).node != topology.device(b).node) ++leaving[topology.device(a).node];
      }
    }
    share_network(worst, *std::max_element(leaving.begin(), leaving.end()));
    placed.p2p[{from, to}] = worst;
  }
}

}  // namespace

std::vector<int> place_ranks(const Topology& topology, const Degrees& degrees) {
  std::vector<int> rank_to_device;
  rank_to_device.reserve(static_cast<std::size_t>(topology.world_size()));
  // Ranks are tp fastest, then dp, then pp: consecutive groups make a stage's block, so
  // stage blocks follow node order and their boundaries land between nodes.
  for (const std::vector<int>& group : tp_groups(topology, degrees.tp)) {
    rank_to_device.insert(rank_to_device.end(), group.begin(), group.end());
  }
  return rank_to_device;
}

PlacedDegrees place_and_describe(const Topology& topology, const Degrees& degrees, Precision precision,
                                 double compute_efficiency, double network_efficiency) {
  PlacedDegrees placed;
  placed.degrees = degrees;
  placed.rank_to_device = place_ranks(topology, degrees);
  placed.stages.resize(static_cast<std::size_t>(degrees.pp));
  describe_devices(topology, placed, precision, compute_efficiency, placed.stages);
  describe_tp_rings(topology, placed, network_efficiency, placed.stages);
  describe_dp_rings(topology, placed, network_efficiency, placed.stages);
  describe_p2p(topology, placed, network_efficiency);
  return placed;
}

}  // namespace llmrt
