// The cluster as the planner sees it: every device in MPI rank order, its NVLink island, and
// the class, bandwidth and latency of the link between any two devices.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/spec.h"
#include "topology/device_catalog.h"
#include "util/status.h"

namespace llmrt {

// Latencies assumed where a link does not state one (one small message, one hop).
inline constexpr double kNvlinkLatencyUs = 2.0;
inline constexpr double kPcieLatencyUs = 5.0;
// Two CPU ranks on one node exchange through shared memory; a memcpy-bound estimate
// (~10 GB/s sustained for one copy stream) and a round of the MPI shared-memory transport.
inline constexpr double kSharedMemoryBandwidthGbps = 80.0;
inline constexpr double kSharedMemoryLatencyUs = 1.0;

// One rank's device. A CPU rank's figures come from the catalog's per-thread "cpu" entry
// scaled by cpu_threads; the accessors below do that scaling in one place.
struct Device {
  int global_index = 0;  // the MPI rank
  int node = 0;          // index into Topology::nodes()
  int local_index = 0;   // the GPU index (or CPU rank) within its node
  const DeviceModel* model = nullptr;
  int island = 0;        // index into Topology::islands()
  int cpu_threads = 0;   // threads of a CPU rank; 0 for a GPU
  double compute_efficiency = 0;  // achieved ÷ peak FLOP/s the config gives these cards; 0 = [plan]'s

  double memory_gib() const { return model->memory_gib; }
  double tdp_w() const { return scaled(model->tdp_w); }
  double memory_bandwidth_gbps() const { return scaled(model->memory_bandwidth_gbps); }
  // A CPU trains bf16 and fp16 with fp32 arithmetic (16-bit storage only): its fp32 peak applies.
  double peak_tflops(PeakPrecision precision) const {
    const bool storage_only = model->is_cpu && (precision == PeakPrecision::kBf16 || precision == PeakPrecision::kFp16);
    return scaled(peak_of(model->peak_tflops, storage_only ? PeakPrecision::kFp32 : precision));
  }

 private:
  double scaled(double per_unit) const { return model->is_cpu ? per_unit * cpu_threads : per_unit; }
};

enum class LinkClass {
  kSameDevice,
  kNvlink,
  kPcie,
  kSharedMemory,  // CPU ranks on one node
  kNetwork,       // different nodes: [cluster.network]
};
std::string_view link_class_name(LinkClass link_class);

struct LinkInfo {
  LinkClass link_class = LinkClass::kSameDevice;
  double bandwidth_gbps = 0;  // per direction
  double latency_us = 0;
};

struct TopologyNode {
  std::string name;
  bool is_cpu = false;
  int first_device = 0;  // global index of local device 0
  int device_count = 0;
};

// A link from the config, resolved to global device indices and catalog defaults.
struct ResolvedLink {
  LinkKind kind = LinkKind::kPcie;
  std::vector<int> devices;  // global indices, ascending
  double bandwidth_gbps = 0;
  double latency_us = 0;
};

class Topology {
 public:
  int world_size() const { return static_cast<int>(devices_.size()); }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  const std::vector<Device>& devices() const { return devices_; }
  const Device& device(int global_index) const { return devices_.at(global_index); }
  const std::vector<TopologyNode>& nodes() const { return nodes_; }
  // NVLink islands as ascending global device indices, in device order; a device in no NVLink
  // link is an island of one.
  const std::vector<std::vector<int>>& islands() const { return islands_; }
  const std::vector<ResolvedLink>& node_links(int node) const { return node_links_[static_cast<std::size_t>(node)]; }
  const NetworkSpec& network() const { return network_; }

  // How devices a and b (global indices) exchange data: the fastest path the config names.
  LinkInfo link_between(int a, int b) const;

  // Sum of device TDPs plus `overhead_per_node_w` for each node (CPUs, fans, NICs).
  double total_power_w(double overhead_per_node_w) const;
  double total_memory_gib() const;
  double peak_tflops(PeakPrecision precision) const;

 private:
  friend class TopologyBuilder;

  std::vector<Device> devices_;
  std::vector<TopologyNode> nodes_;
  std::vector<std::vector<int>> islands_;
  std::vector<LinkInfo> island_links_;  // per island: its NVLink bandwidth and latency
  std::vector<std::vector<ResolvedLink>> node_links_;
  NetworkSpec network_;
  // Keeps the models that devices_ point to alive independently of the catalog.
  std::vector<std::shared_ptr<const DeviceModel>> models_;

  LinkInfo link_within_node(const Device& a, const Device& b) const;
};

// Checks the cluster against the catalog and lays its devices out in MPI rank order: node by
// node as listed in [[cluster.node]], then by local index within the node (GPU index or CPU
// rank). mpirun must place ranks the same way: by slot, with the hostfile listing the nodes
// in this order and as many slots per node as it has devices.
Result<Topology> build_topology(const ClusterSpec& cluster, const DeviceCatalog& catalog);

// The precision `device` trains at when the job asks for `requested`: the same, except "auto",
// which takes the best the card has — bf16, else fp16 (with loss scaling), else fp32. CPU ranks
// take fp32 under "auto": they compute in fp32 whatever they store.
Precision device_precision(const Device& device, Precision requested);
// The device's peak FLOP/s for training at `requested` (resolved per device under "auto").
double training_peak_tflops(const Device& device, Precision requested);
// The sum over the topology's devices.
double training_peak_tflops(const Topology& topology, Precision requested);

// A bf16 or fp16 job on GPUs that lack that precision (a V100 has no bf16) is refused, naming
// each such card model with where it is and suggesting the precision it does have. CPU ranks
// run every precision (16-bit storage, fp32 arithmetic).
Status check_precision_support(const Topology& topology, Precision precision);

// A loss-scale key (train.loss_scale_init/_window) written for a job where no rank trains in
// fp16 (precision "auto" on cards that all have bf16) would do nothing: an input error at its
// position instead.
Status check_loss_scale_keys(const Topology& topology, const TrainSpec& train);

}  // namespace llmrt
