// [cluster]: nodes (GPUs or CPU ranks), their links, the network between nodes, custom cards.
#include <algorithm>
#include <charconv>
#include <set>

#include "config/limits.h"
#include "config/read_spec.h"

namespace llmrt {
namespace {

Result<int> parse_index(std::string_view text, const SourcePos& pos) {
  int value = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 0) {
    return input_error("{}: '{}' is not a device index (expected e.g. \"0-7\" or \"0,2,5\")", pos.describe(), text);
  }
  return value;
}

Status append_range(std::string_view part, const SourcePos& pos, std::vector<int>& devices) {
  const std::size_t dash = part.find('-');
  LLMRT_ASSIGN_OR_RETURN(auto first, parse_index(part.substr(0, dash), pos));
  int last = first;
  if (dash != std::string_view::npos) {
    LLMRT_ASSIGN_OR_RETURN(auto parsed_last, parse_index(part.substr(dash + 1), pos));
    last = parsed_last;
    if (last < first) return input_error("{}: range '{}' runs backwards", pos.describe(), part);
  }
  for (int device = first; device <= last; ++device) devices.push_back(device);
  return Status::success();
}

LinkSpec read_link(TableReader link) {
  LinkSpec spec;
  spec.pos = link.pos();
  if (!link.has("kind")) link.fail("kind", "missing required key 'kind' (nvlink or pcie)");
  spec.kind = link.choice_or("kind", {"nvlink", "pcie"}, 1) == 0 ? LinkKind::kNvlink : LinkKind::kPcie;
  spec.gpus.pos = link.pos_of("gpus");
  if (const toml::node* gpus = link.node("gpus")) {
    auto devices = parse_device_list(*gpus, spec.gpus.pos);
    if (devices) spec.gpus.value = *devices;
    else link.sink().report(devices.error());
  } else {
    link.fail("gpus", "missing required key 'gpus' (the GPUs this link joins, e.g. \"0-7\")");
  }
  if (link.has("bandwidth_gbps")) spec.bandwidth_gbps = link.positive_number_or("bandwidth_gbps", 1);
  if (link.has("latency_us")) spec.latency_us = link.nonnegative_number_or("latency_us", 0);
  return spec;
}

NodeSpec read_node(TableReader node) {
  NodeSpec spec;
  spec.pos = node.pos();
  spec.name = node.required_string("name", "the host name mpirun sees");
  const bool has_gpus = node.has("gpus"), has_cpus = node.has("cpus");
  if (has_gpus == has_cpus) {
    node.fail(has_gpus ? "cpus" : "name",
              "a node lists either gpus = { model, count } or cpus = { ranks, threads_per_rank }, not both or neither");
  }
  if (has_gpus) {
    for (TableReader& gpus : node.tables_or_table("gpus")) {
      GpuGroupSpec group;
      group.model.value = gpus.required_string("model", "a device model from the catalog or [[cluster.device_model]]");
      group.model.pos = gpus.pos_of("model");
      group.count = gpus.required_positive_int("count", "GPUs of this model on the node");
      gpus.check_at_most("count", group.count, kMaxDevicesPerNode, "devices on one node");
      group.compute_efficiency = gpus.positive_number_or("compute_efficiency", 0.0);
      if (group.compute_efficiency > 1.0) {
        gpus.fail("compute_efficiency", fmt::format("expected a fraction in (0, 1], found {}", group.compute_efficiency));
      }
      spec.gpus.push_back(std::move(group));
    }
    std::int64_t total = 0;  // several groups: their sum is the node's
    for (const GpuGroupSpec& group : spec.gpus) total += group.count;
    if (spec.gpus.size() > 1) node.check_at_most("gpus", total, kMaxDevicesPerNode, "devices on one node");
  } else if (has_cpus) {
    TableReader cpus = node.table("cpus");
    spec.cpu_ranks = cpus.required_positive_int("ranks", "MPI ranks on this node");
    cpus.check_at_most("ranks", spec.cpu_ranks, kMaxDevicesPerNode, "devices on one node");
    spec.cpu_threads_per_rank = cpus.positive_int_or("threads_per_rank", 1);
    cpus.check_at_most("threads_per_rank", spec.cpu_threads_per_rank, kMaxThreadsPerRank, "threads of one rank");
  }
  for (TableReader& link : node.tables("links")) spec.links.push_back(read_link(link));
  return spec;
}

NetworkSpec read_network(TableReader network) {
  NetworkSpec spec;
  const bool infiniband = network.choice_or("kind", {"ethernet", "infiniband"}, 0) == 1;
  spec.kind = infiniband ? NetworkKind::kInfiniband : NetworkKind::kEthernet;
  spec.bandwidth_gbps = network.positive_number_or("bandwidth_gbps", infiniband ? 200.0 : 10.0);
  spec.latency_us = network.nonnegative_number_or("latency_us", infiniband ? 2.0 : 50.0);
  return spec;
}

DeviceModelSpec read_device_model(TableReader model) {
  DeviceModelSpec spec;
  spec.pos = model.pos();
  spec.name = model.required_string("name", "the name nodes use in gpus.model");
  if (!model.has("memory_gib")) model.fail("memory_gib", "missing required key 'memory_gib'");
  spec.memory_gib = model.positive_number_or("memory_gib", 1);
  if (!model.has("peak_tflops")) model.fail("peak_tflops", "missing required key 'peak_tflops' (e.g. { bf16 = 180 })");
  TableReader peak = model.table("peak_tflops");
  spec.peak_tflops.fp32 = peak.nonnegative_number_or("fp32", 0);
  spec.peak_tflops.tf32 = peak.nonnegative_number_or("tf32", 0);
  spec.peak_tflops.fp16 = peak.nonnegative_number_or("fp16", 0);
  spec.peak_tflops.bf16 = peak.nonnegative_number_or("bf16", 0);
  if (!model.has("memory_bandwidth_gbps")) model.fail("memory_bandwidth_gbps", "missing required key 'memory_bandwidth_gbps'");
  spec.memory_bandwidth_gbps = model.positive_number_or("memory_bandwidth_gbps", 1);
  if (!model.has("tdp_w")) model.fail("tdp_w", "missing required key 'tdp_w'");
  spec.tdp_w = model.positive_number_or("tdp_w", 1);
  spec.nvlink_bandwidth_gbps = model.nonnegative_number_or("nvlink_bandwidth_gbps", 0);
  spec.pcie_bandwidth_gbps = model.positive_number_or("pcie_bandwidth_gbps", 256);
  return spec;
}

}  // namespace

Result<std::vector<int>> parse_device_list(const toml::node& node, const SourcePos& pos) {
  std::vector<int> devices;
  if (const auto* text = node.as_string()) {
    std::string_view rest = text->get();
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view part = rest.substr(0, comma);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      LLMRT_RETURN_IF_ERROR(append_range(part, pos, devices));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  } else if (const auto* array = node.as_array()) {
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto* index = array->get(i)->as_integer();
      if (!index || index->get() < 0 || index->get() > kMaxIntKey) {
        return input_error("{}: expected device indices >= 0, found {}", pos.describe(), describe_found(*array->get(i)));
      }
      devices.push_back(static_cast<int>(index->get()));
    }
  } else {
    return input_error("{}: expected a device list such as \"0-7\" or [0, 1], found {}", pos.describe(),
                       describe_found(node));
  }
  if (devices.empty()) return input_error("{}: the device list is empty", pos.describe());
  std::set<int> seen;
  for (int device : devices) {
    if (!seen.insert(device).second) return input_error("{}: device {} is listed twice", pos.describe(), device);
  }
  return devices;
}

ClusterSpec read_cluster(TableReader cluster) {
  ClusterSpec spec;
  spec.pos = cluster.pos();
  spec.name = cluster.string_or("name", "cluster");
  spec.power_overhead_w_per_node = cluster.nonnegative_number_or("power_overhead_w_per_node", 300);
  spec.price_per_kwh = cluster.nonnegative_number_or("price_per_kwh", 0);
  spec.currency = cluster.string_or("currency", "");
  if (cluster.present() && !cluster.has("node")) {
    cluster.fail("node", "missing required key 'node': describe each machine with [[cluster.node]]");
  }
  for (TableReader& node : cluster.tables("node")) spec.nodes.push_back(read_node(node));
  if (cluster.present() && cluster.has("node") && spec.nodes.empty()) {
    cluster.fail("node", "expected at least one [[cluster.node]]");
  }
  cluster.check_at_most("node", static_cast<std::int64_t>(spec.nodes.size()), kMaxNodes, "nodes");
  std::int64_t devices = 0;
  for (const NodeSpec& node : spec.nodes) devices += node.device_count();
  cluster.check_at_most("node", devices, kMaxDevices, "devices in the cluster");
  spec.network = read_network(cluster.table("network"));
  for (TableReader& model : cluster.tables("device_model")) spec.device_models.push_back(read_device_model(model));
  return spec;
}

}  // namespace llmrt
