// Builds the Topology from [cluster]: checks nodes and links against the catalog, merges
// NVLink links into islands, and answers which link joins two devices.
#include "topology/topology.h"

#include <algorithm>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/strings.h"

namespace llmrt {
namespace {

// Disjoint sets over global device indices: NVLink links that share a GPU form one island.
class DisjointSets {
 public:
  explicit DisjointSets(int size) : parent_(size) { std::iota(parent_.begin(), parent_.end(), 0); }
  int root(int x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }
  void join(int a, int b) { parent_[root(a)] = root(b); }

 private:
  std::vector<int> parent_;
};

bool contains_both(const ResolvedLink& link, int a, int b) {
  return std::binary_search(link.devices.begin(), link.devices.end(), a) &&
         std::binary_search(link.devices.begin(), link.devices.end(), b);
}

std::string format_indices(const std::vector<int>& indices) {
  std::vector<std::string> parts;
  for (int index : indices) parts.push_back(std::to_string(index));
  return join(parts, ",");
}

std::string_view link_kind_name(LinkKind kind) {
  return kind == LinkKind::kNvlink ? "NVLink" : "PCIe";
}

}  // namespace

std::string_view link_class_name(LinkClass link_class) {
  switch (link_class) {
    case LinkClass::kSameDevice: return "same device";
    case LinkClass::kNvlink: return "nvlink";
    case LinkClass::kPcie: return "pcie";
    case LinkClass::kSharedMemory: return "shared memory";
    case LinkClass::kNetwork: return "network";
  }
  return "?";
}

// Fills a Topology node by node; every check names the config position of what it rejects.
class TopologyBuilder {
 public:
  TopologyBuilder(const ClusterSpec& cluster, const DeviceCatalog& catalog)
      : cluster_(cluster), catalog_(catalog) {}

  Result<Topology> build();

 private:
  const ClusterSpec& cluster_;
  const DeviceCatalog& catalog_;
  Topology topology_;

  Status check_cluster() const;
  Result<std::shared_ptr<const DeviceModel>> resolve_cpu_model(const NodeSpec& node) const;
  Result<std::shared_ptr<const DeviceModel>> resolve_gpu_model(const NodeSpec& node,
                                                               const GpuGroupSpec& group) const;
  Result<std::vector<std::shared_ptr<const DeviceModel>>> resolve_models(const NodeSpec& node) const;
  Status add_node(const NodeSpec& spec);
  Result<ResolvedLink> resolve_link(const TopologyNode& node, const LinkSpec& link,
                                    const std::vector<std::shared_ptr<const DeviceModel>>& models) const;
  Status join_nvlink(const NodeSpec& spec, const LinkSpec& link, const ResolvedLink& resolved,
                     DisjointSets& sets) const;
  void assign_islands(DisjointSets& sets);
};

Status TopologyBuilder::check_cluster() const {
  if (cluster_.nodes.empty()) {
    return input_error("{}: the cluster has no [[cluster.node]]", cluster_.pos.describe());
  }
  std::map<std::string, const NodeSpec*> seen;
  for (const NodeSpec& node : cluster_.nodes) {
    auto [first, inserted] = seen.emplace(node.name, &node);
    if (!inserted) {
      return input_error("{}: node name \"{}\" appears twice (first at {})", node.pos.describe(),
                         node.name, first->second->pos.describe());
    }
  }
  if (cluster_.nodes.size() > 1 && cluster_.network.bandwidth_gbps <= 0) {
    return input_error("{}: [cluster.network] bandwidth_gbps = {} must be positive with {} nodes",
                       cluster_.pos.describe(), cluster_.network.bandwidth_gbps,
                       cluster_.nodes.size());
  }
  return Status::success();
}

Result<std::shared_ptr<const DeviceModel>> TopologyBuilder::resolve_cpu_model(
    const NodeSpec& node) const {
  if (!node.gpus.empty()) {
    return input_error("{}: node \"{}\" lists both GPUs and CPU ranks; a node is one or the other",
                       node.pos.describe(), node.name);
  }
  if (node.cpu_threads_per_rank < 1) {
    return input_error("{}: node \"{}\": threads_per_rank = {} must be at least 1",
                       node.pos.describe(), node.name, node.cpu_threads_per_rank);
  }
  return catalog_.find_shared("cpu");
}

Result<std::shared_ptr<const DeviceModel>> TopologyBuilder::resolve_gpu_model(
    const NodeSpec& node, const GpuGroupSpec& group) const {
  if (group.model.value.empty() || group.count < 1) {
    return input_error("{}: node \"{}\" needs gpus = {{ model, count >= 1 }} or cpus = {{ ranks }}",
                       node.pos.describe(), node.name);
  }
  const std::string& name = group.model.value;
  std::shared_ptr<const DeviceModel> model = catalog_.find_shared(name);
  if (model != nullptr && !model->is_cpu) return model;
  if (model != nullptr) {
    return input_error("{}: \"{}\" is not a GPU model; list CPU ranks as cpus = {{ ranks = N }}",
                       group.model.pos.describe(), name);
  }
  const std::vector<std::string> known = catalog_.gpu_names();
  const std::string suggestion = DeviceCatalog::closest_name(name, known);
  const std::string hint = suggestion.empty() ? "." : fmt::format("; did you mean \"{}\"?", suggestion);
  return input_error("{}: unknown GPU model \"{}\"{} Known models: {} (or add a "
                     "[[cluster.device_model]])",
                     group.model.pos.describe(), name, hint, join(known, ", "));
}

// One model per local device, in local index order.
Result<std::vector<std::shared_ptr<const DeviceModel>>> TopologyBuilder::resolve_models(
    const NodeSpec& node) const {
  std::vector<std::shared_ptr<const DeviceModel>> models;
  if (node.is_cpu()) {
    LLMRT_ASSIGN_OR_RETURN(auto model, resolve_cpu_model(node));
    models.assign(static_cast<std::size_t>(node.cpu_ranks), model);
    return models;
  }
  if (node.gpus.empty()) {
    return input_error("{}: node \"{}\" needs gpus = {{ model, count >= 1 }} or cpus = {{ ranks }}",
                       node.pos.describe(), node.name);
  }
  for (const GpuGroupSpec& group : node.gpus) {
    LLMRT_ASSIGN_OR_RETURN(auto model, resolve_gpu_model(node, group));
    models.insert(models.end(), static_cast<std::size_t>(group.count), model);
  }
  return models;
}

Result<ResolvedLink> TopologyBuilder::resolve_link(
    const TopologyNode& node, const LinkSpec& link,
    const std::vector<std::shared_ptr<const DeviceModel>>& models) const {
  const std::string where = link.gpus.pos.describe();
  if (node.is_cpu) {
    return input_error("{}: node \"{}\" has CPU ranks, which share memory; links are for GPUs",
                       link.pos.describe(), node.name);
  }
  if (link.gpus.value.size() < 2) {
    return input_error("{}: a {} link joins at least 2 GPUs, got {}", where,
                       link_kind_name(link.kind), link.gpus.value.size());
  }
  ResolvedLink resolved{link.kind, {}, 0, 0};
  for (int local : link.gpus.value) {
    if (local < 0 || local >= node.device_count) {
      return input_error("{}: GPU index {} is out of range: node \"{}\" has {} GPUs (indices 0-{})",
                         where, local, node.name, node.device_count, node.device_count - 1);
    }
    resolved.devices.push_back(node.first_device + local);
  }
  std::sort(resolved.devices.begin(), resolved.devices.end());
  auto repeated = std::adjacent_find(resolved.devices.begin(), resolved.devices.end());
  if (repeated != resolved.devices.end()) {
    return input_error("{}: GPU index {} appears twice in one link", where,
                       *repeated - node.first_device);
  }
  const bool nvlink = link.kind == LinkKind::kNvlink;
  // A link between different cards runs at the slower card's figure.
  const DeviceModel* slowest = nullptr;
  double catalog_bandwidth = 0;
  for (int local : link.gpus.value) {
    const DeviceModel& model = *models[static_cast<std::size_t>(local)];
    const double bandwidth = nvlink ? model.nvlink_bandwidth_gbps : model.pcie_bandwidth_gbps;
    if (!slowest || bandwidth < catalog_bandwidth) {
      slowest = &model;
      catalog_bandwidth = bandwidth;
    }
  }
  if (!link.bandwidth_gbps && catalog_bandwidth <= 0) {
    return input_error("{}: the catalog gives {} no {} bandwidth; set bandwidth_gbps on the link",
                       link.pos.describe(), slowest->name, link_kind_name(link.kind));
  }
  resolved.bandwidth_gbps = link.bandwidth_gbps.value_or(catalog_bandwidth);
  resolved.latency_us = link.latency_us.value_or(nvlink ? kNvlinkLatencyUs : kPcieLatencyUs);
  if (resolved.bandwidth_gbps <= 0 || resolved.latency_us < 0) {
    return input_error("{}: link bandwidth_gbps = {} must be positive and latency_us = {} not "
                       "negative",
                       link.pos.describe(), resolved.bandwidth_gbps, resolved.latency_us);
  }
  return resolved;
}

// A GPU may sit in several NVLink links only when each link adds GPUs to its island; a link
// whose GPUs are all in one island already repeats an earlier one (likely a typo).
Status TopologyBuilder::join_nvlink(const NodeSpec& spec, const LinkSpec& link,
                                    const ResolvedLink& resolved, DisjointSets& sets) const {
  const int first_root = sets.root(resolved.devices.front());
  const bool already_joined = std::all_of(resolved.devices.begin(), resolved.devices.end(),
                                          [&](int device) { return sets.root(device) == first_root; });
  if (already_joined) {
    return input_error("{}: this NVLink link on node \"{}\" joins GPUs {} that earlier NVLink "
                       "links already put in one island; overlapping links must merge islands",
                       link.gpus.pos.describe(), spec.name,
                       format_indices(link.gpus.value));
  }
  for (int device : resolved.devices) sets.join(device, resolved.devices.front());
  return Status::success();
}

Status TopologyBuilder::add_node(const NodeSpec& spec) {
  LLMRT_ASSIGN_OR_RETURN(auto models, resolve_models(spec));
  const int node_index = topology_.node_count();
  TopologyNode node{spec.name, spec.is_cpu(), topology_.world_size(), spec.device_count()};
  std::vector<double> efficiency;  // [local] from the card's gpus group
  for (const GpuGroupSpec& group : spec.gpus) efficiency.insert(efficiency.end(), group.count, group.compute_efficiency);
  for (int local = 0; local < node.device_count; ++local) {
    const auto at = static_cast<std::size_t>(local);
    topology_.devices_.push_back(Device{node.first_device + local, node_index, local, models[at].get(), 0,
                                        node.is_cpu ? spec.cpu_threads_per_rank : 0,
                                        at < efficiency.size() ? efficiency[at] : 0.0});
  }
  std::vector<ResolvedLink> links;
  for (const LinkSpec& link : spec.links) {
    LLMRT_ASSIGN_OR_RETURN(auto resolved, resolve_link(node, link, models));
    links.push_back(std::move(resolved));
  }
  topology_.nodes_.push_back(std::move(node));
  topology_.node_links_.push_back(std::move(links));
  for (auto& model : models) topology_.models_.push_back(std::move(model));
  return Status::success();
}

void TopologyBuilder::assign_islands(DisjointSets& sets) {
  std::map<int, int> island_by_root;
  for (Device& device : topology_.devices_) {
    const int root = sets.root(device.global_index);
    auto [entry, inserted] = island_by_root.emplace(root, static_cast<int>(topology_.islands_.size()));
    if (inserted) {
      topology_.islands_.emplace_back();
      topology_.island_links_.push_back(LinkInfo{LinkClass::kNvlink, 0, 0});
    }
    device.island = entry->second;
    topology_.islands_[device.island].push_back(device.global_index);
  }
  // Between two GPUs of a merged island that share no link, assume the island's slowest link.
  for (const auto& links : topology_.node_links_) {
    for (const ResolvedLink& link : links) {
      if (link.kind != LinkKind::kNvlink) continue;
      LinkInfo& island = topology_.island_links_[topology_.devices_[link.devices.front()].island];
      island.bandwidth_gbps = island.bandwidth_gbps == 0
                                  ? link.bandwidth_gbps
                                  : std::min(island.bandwidth_gbps, link.bandwidth_gbps);
      island.latency_us = std::max(island.latency_us, link.latency_us);
    }
  }
}

Result<Topology> TopologyBuilder::build() {
  LLMRT_RETURN_IF_ERROR(check_cluster());
  for (const NodeSpec& spec : cluster_.nodes) LLMRT_RETURN_IF_ERROR(add_node(spec));
  DisjointSets sets(topology_.world_size());
  for (std::size_t n = 0; n < cluster_.nodes.size(); ++n) {
    const NodeSpec& spec = cluster_.nodes[n];
    for (std::size_t l = 0; l < spec.links.size(); ++l) {
      const ResolvedLink& link = topology_.node_links_[n][l];
      if (link.kind == LinkKind::kNvlink) {
        LLMRT_RETURN_IF_ERROR(join_nvlink(spec, spec.links[l], link, sets));
      }
    }
  }
  assign_islands(sets);
  topology_.network_ = cluster_.network;
  return std::move(topology_);
}

Result<Topology> build_topology(const ClusterSpec& cluster, const DeviceCatalog& catalog) {
  return TopologyBuilder(cluster, catalog).build();
}

LinkInfo Topology::link_within_node(const Device& a, const Device& b) const {
  const std::vector<ResolvedLink>& links = node_links_[a.node];
  if (a.model->is_cpu) {
    return {LinkClass::kSharedMemory, kSharedMemoryBandwidthGbps, kSharedMemoryLatencyUs};
  }
  const LinkKind kind = a.island == b.island ? LinkKind::kNvlink : LinkKind::kPcie;
  // A link naming both devices says exactly what joins them.
  for (const ResolvedLink& link : links) {
    if (link.kind == kind && contains_both(link, a.global_index, b.global_index)) {
      return {kind == LinkKind::kNvlink ? LinkClass::kNvlink : LinkClass::kPcie,
              link.bandwidth_gbps, link.latency_us};
    }
  }
  if (kind == LinkKind::kNvlink) return island_links_[a.island];
  // Traffic between two cards crosses both host interfaces; the slower one bounds it.
  return {LinkClass::kPcie, std::min(a.model->pcie_bandwidth_gbps, b.model->pcie_bandwidth_gbps),
          kPcieLatencyUs};
}

LinkInfo Topology::link_between(int a, int b) const {
  const Device& first = device(a);
  const Device& second = device(b);
  if (a == b) return {LinkClass::kSameDevice, first.memory_bandwidth_gbps(), 0};
  if (first.node != second.node) {
    return {LinkClass::kNetwork, network_.bandwidth_gbps, network_.latency_us};
  }
  return link_within_node(first, second);
}

double Topology::total_power_w(double overhead_per_node_w) const {
  double total = overhead_per_node_w * node_count();
  for (const Device& device : devices_) total += device.tdp_w();
  return total;
}

double Topology::total_memory_gib() const {
  double total = 0;
  for (const Device& device : devices_) total += device.memory_gib();
  return total;
}

double Topology::peak_tflops(PeakPrecision precision) const {
  double total = 0;
  for (const Device& device : devices_) total += device.peak_tflops(precision);
  return total;
}

Precision device_precision(const Device& device, Precision requested) {
  if (requested != Precision::kAuto) return requested;
  if (device.model->is_cpu) return Precision::kFp32;
  if (peak_of(device.model->peak_tflops, PeakPrecision::kBf16) > 0) return Precision::kBf16;
  if (peak_of(device.model->peak_tflops, PeakPrecision::kFp16) > 0) return Precision::kFp16;
  return Precision::kFp32;
}

double training_peak_tflops(const Device& device, Precision requested) {
  return device.peak_tflops(peak_precision_for(device_precision(device, requested)));
}

double training_peak_tflops(const Topology& topology, Precision requested) {
  double total = 0;
  for (const Device& device : topology.devices()) total += training_peak_tflops(device, requested);
  return total;
}

Status check_loss_scale_keys(const Topology& topology, const TrainSpec& train) {
  if (!train.loss_scale_written || train.precision != Precision::kAuto) return Status::success();
  for (const Device& device : topology.devices()) {
    if (device_precision(device, train.precision) == Precision::kFp16) return Status::success();
  }
  return input_error("{}: train.precision = \"auto\" puts no rank of this topology in fp16 (every card has bf16, "
                     "CPU ranks run fp32), so no loss scale runs: remove the key",
                     train.loss_scale_pos.describe());
}

Status check_precision_support(const Topology& topology, Precision precision) {
  if (precision == Precision::kFp32 || precision == Precision::kAuto) return Status::success();
  const PeakPrecision wanted = peak_precision_for(precision);
  bool fp16_everywhere = true;
  std::map<std::string, std::vector<std::string>> nodes_of;  // model -> nodes, in node order
  for (const Device& device : topology.devices()) {
    if (device.model->is_cpu) continue;
    fp16_everywhere = fp16_everywhere && peak_of(device.model->peak_tflops, PeakPrecision::kFp16) > 0;
    if (peak_of(device.model->peak_tflops, wanted) > 0) continue;
    std::vector<std::string>& nodes = nodes_of[device.model->name];
    const std::string& node = topology.nodes().at(static_cast<std::size_t>(device.node)).name;
    if (nodes.empty() || nodes.back() != node) nodes.push_back(node);
  }
  if (nodes_of.empty()) return Status::success();
  std::vector<std::string> lacking;  // "V100-32GB (on n1, n2)"
  for (const auto& [model, nodes] : nodes_of) lacking.push_back(fmt::format("{} (on {})", model, fmt::join(nodes, ", ")));
  const std::string name(peak_precision_name(wanted));
  const std::string advice = precision == Precision::kBf16 && fp16_everywhere
                                 ? "use train.precision = \"auto\" (bf16 where a card has it, fp16 with loss scaling "
                                   "elsewhere) or \"fp16\", or leave those cards out of the topology"
                                 : "use train.precision = \"auto\" or \"fp32\", or leave those cards out of the topology";
  return input_error("train.precision = \"{}\": {} {} no {} arithmetic; {}", name, fmt::join(lacking, ", "),
                     lacking.size() == 1 ? "has" : "have", name, advice);
}

}  // namespace llmrt
