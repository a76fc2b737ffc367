// Formats a Topology as the aligned plain-text summary of `llmrt check`.
#include "topology/topology_report.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "util/strings.h"

namespace llmrt {
namespace {

using Row = std::vector<std::string>;

// Pads every cell but a row's last to its column's widest such cell, so columns line up while
// a row's free text (a node heading, a note) runs on without widening any column.
std::string format_rows(const std::vector<Row>& rows) {
  std::vector<std::size_t> widths;
  for (const Row& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t c = 0; c + 1 < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string text;
  for (const Row& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += c + 1 < row.size() ? fmt::format("{:<{}}  ", row[c], widths[c]) : row[c];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + "\n";
  }
  return text;
}

// "0-3,6" for {0, 1, 2, 3, 6}: `indices` ascending.
std::string format_ranges(const std::vector<int>& indices) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < indices.size();) {
    std::size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    parts.push_back(j == i ? std::to_string(indices[i])
                           : fmt::format("{}-{}", indices[i], indices[j]));
    i = j + 1;
  }
  return join(parts, ",");
}

// "8 x A100-80GB-SXM", or "2 x RTX-3090 + 2 x A100-80GB-PCIE" for a node with mixed cards.
std::string describe_gpus(const Topology& topology, const TopologyNode& node) {
  std::vector<std::string> groups;
  int run = 0;
  for (int local = 0; local < node.device_count; ++local) {
    const Device& device = topology.device(node.first_device + local);
    ++run;
    const bool last = local + 1 == node.device_count;
    if (last || topology.device(device.global_index + 1).model != device.model) {
      groups.push_back(fmt::format("{} x {}", run, device.model->name));
      run = 0;
    }
  }
  return join(groups, " + ");
}

std::string describe_devices(const Topology& topology, const TopologyNode& node, const Device& first) {
  if (!node.is_cpu) return describe_gpus(topology, node);
  return fmt::format("{} CPU rank{} x {} thread{}", node.device_count,
                     node.device_count == 1 ? "" : "s", first.cpu_threads,
                     first.cpu_threads == 1 ? "" : "s");
}

// Multi-GPU islands in local indices, then the GPUs that reach others only over PCIe.
std::string describe_islands(const Topology& topology, const TopologyNode& node) {
  std::vector<std::string> groups;
  std::vector<int> alone;
  for (const auto& island : topology.islands()) {
    const Device& head = topology.device(island.front());
    if (head.node != topology.device(node.first_device).node) continue;
    if (island.size() == 1) {
      alone.push_back(head.local_index);
      continue;
    }
    std::vector<int> local;
    for (int global : island) local.push_back(topology.device(global).local_index);
    groups.push_back(fmt::format("[{}]", format_ranges(local)));
  }
  std::string text = groups.empty() ? "none" : join(groups, " ");
  if (!groups.empty() && !alone.empty()) text += fmt::format("; GPU {} alone", format_ranges(alone));
  return text;
}

// Devices of one node that every link treats alike: same card, same NVLink island (-1 for a GPU
// alone in its island: two such GPUs never share one), named by the same [[cluster.node.links]].
// The link between two devices depends only on their classes.
struct LinkClassMembers {
  int first = -1, second = -1;  // two members (second = -1 when alone)
  int lowest = 0, highest = 0;  // global indices
};

std::map<std::tuple<const DeviceModel*, int, std::vector<int>>, LinkClassMembers> link_classes(
    const Topology& topology, const TopologyNode& node) {
  std::map<std::tuple<const DeviceModel*, int, std::vector<int>>, LinkClassMembers> classes;
  const std::vector<ResolvedLink>& links = topology.node_links(topology.device(node.first_device).node);
  for (int a = node.first_device; a < node.first_device + node.device_count; ++a) {
    std::vector<int> named_by;
    for (std::size_t l = 0; l < links.size(); ++l) {
      if (std::binary_search(links[l].devices.begin(), links[l].devices.end(), a)) named_by.push_back(static_cast<int>(l));
    }
    const Device& device = topology.device(a);
    const int island = topology.islands()[static_cast<std::size_t>(device.island)].size() > 1 ? device.island : -1;
    LinkClassMembers& members = classes[{device.model, island, std::move(named_by)}];
    if (members.first < 0) members = {a, -1, a, a};
    else if (members.second < 0) members.second = a;
    members.highest = a;
  }
  return classes;
}

// One row per distinct (model pair, link class, bandwidth, latency) among the node's devices.
// Linear in the devices (one representative pair per pair of classes), not quadratic.
std::vector<Row> describe_links(const Topology& topology, const TopologyNode& node) {
  using Key = std::tuple<std::string, std::string, std::string, double, double>;
  std::set<Key> kinds;
  auto add = [&](int a, int b) {  // the pair as the devices a < b would show it
    const LinkInfo link = topology.link_between(a, b);
    kinds.emplace(topology.device(a).model->name, topology.device(b).model->name,
                  std::string(link_class_name(link.link_class)), link.bandwidth_gbps, link.latency_us);
  };
  const auto classes = link_classes(topology, node);
  for (auto i = classes.begin(); i != classes.end(); ++i) {
    if (i->second.second >= 0) add(i->second.first, i->second.second);
    for (auto j = std::next(i); j != classes.end(); ++j) {
      if (i->second.lowest < j->second.highest) add(i->second.first, j->second.first);
      if (j->second.lowest < i->second.highest) add(j->second.first, i->second.first);
    }
  }
  std::vector<Row> rows;
  for (const auto& [from, to, link_class, bandwidth, latency] : kinds) {
    rows.push_back({"", fmt::format("{} <-> {}", from, to), link_class,
                    fmt::format("{:g} Gbit/s", bandwidth), fmt::format("{:g} us", latency)});
  }
  if (rows.empty()) rows.push_back({"", "(one device)"});
  rows.front()[0] = "  links";
  return rows;
}

std::vector<Row> describe_node(const Topology& topology, const TopologyNode& node) {
  const Device& first = topology.device(node.first_device);
  const int last = node.first_device + node.device_count - 1;
  const std::string ranks = last == node.first_device
                                ? fmt::format("rank {}", last)
                                : fmt::format("ranks {}-{}", node.first_device, last);
  std::vector<Row> rows{{fmt::format("node {}  {}  {}", node.name, ranks, describe_devices(topology, node, first))}};
  if (!node.is_cpu) rows.push_back({"  nvlink islands", describe_islands(topology, node)});
  for (Row& row : describe_links(topology, node)) rows.push_back(std::move(row));
  return rows;
}

std::vector<Row> describe_totals(const Topology& topology, const ClusterSpec& cluster) {
  const NetworkSpec& network = topology.network();
  const double overhead = cluster.power_overhead_w_per_node;
  const double total_power = topology.total_power_w(overhead);
  std::vector<std::string> peaks;
  for (PeakPrecision precision : {PeakPrecision::kFp32, PeakPrecision::kTf32,
                                  PeakPrecision::kFp16, PeakPrecision::kBf16}) {
    peaks.push_back(fmt::format("{} {:.1f}", peak_precision_name(precision),
                                topology.peak_tflops(precision)));
  }
  std::vector<Row> rows;
  rows.push_back({"network", topology.node_count() == 1
                                 ? std::string("(one node)")
                                 : fmt::format("{}, {:g} Gbit/s per node, {:g} us between nodes",
                                               network.kind == NetworkKind::kInfiniband
                                                   ? "infiniband"
                                                   : "ethernet",
                                               network.bandwidth_gbps, network.latency_us)});
  rows.push_back({"world size", std::to_string(topology.world_size())});
  rows.push_back({"memory", fmt::format("{:g} GiB", topology.total_memory_gib())});
  rows.push_back({"power", fmt::format("{:g} W (devices {:g} W + {} node{} x {:g} W overhead)",
                                       total_power, total_power - overhead * topology.node_count(),
                                       topology.node_count(), topology.node_count() == 1 ? "" : "s",
                                       overhead)});
  rows.push_back({"peak TFLOP/s", join(peaks, "  ")});
  return rows;
}

}  // namespace

std::string format_topology(const Topology& topology, const ClusterSpec& cluster) {
  std::vector<Row> rows{{fmt::format("cluster {}: {} node{}, {} device{} in rank order",
                                     cluster.name, topology.node_count(),
                                     topology.node_count() == 1 ? "" : "s", topology.world_size(),
                                     topology.world_size() == 1 ? "" : "s")}};
  for (const TopologyNode& node : topology.nodes()) {
    for (Row& row : describe_node(topology, node)) rows.push_back(std::move(row));
  }
  for (Row& row : describe_totals(topology, cluster)) rows.push_back(std::move(row));
  // One table for the whole report, so every label and link column lines up.
  return format_rows(rows);
}

}  // namespace llmrt
