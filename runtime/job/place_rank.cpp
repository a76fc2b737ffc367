// place_rank: this rank's topology slot held against the host it landed on — its name, its
// GPUs, their model and memory — in the order a user would fix them, then the GPU bound. A
// rehearsal skips every check on the host and runs on the CPU.
#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "job/job.h"
#include "job/placement.h"

namespace llmrt {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// "8 × A100-80GB-SXM" or "2 × RTX-3090 + 2 × A100-80GB-SXM": the devices of `node`, or of every
// node when node < 0, grouped by model in device order.
std::string describe_devices(const Topology& topology, int node) {
  std::vector<std::pair<std::string, int>> models;
  for (const Device& device : topology.devices()) {
    if (node >= 0 && device.node != node) continue;
    if (models.empty() || models.back().first != device.model->name) models.emplace_back(device.model->name, 0);
    ++models.back().second;
  }
  std::vector<std::string> parts;
  for (const auto& [name, count] : models) parts.push_back(fmt::format("{} × {}", count, name));
  return fmt::format("{}", fmt::join(parts, " + "));
}

// The launcher's local rank, else a split of the world by shared memory. The split is
// collective: every rank takes it when any rank's launcher did not say.
LocalRank detect_local_rank(const World& world) {
  if (!world.launched()) return LocalRank{0, 1, "a world of one"};
  const std::optional<LocalRank> from_env = local_rank_from_env([](const char* name) { return std::getenv(name); });
  if (world.max(from_env ? 0.0 : 1.0) == 0.0) return *from_env;
  const auto [rank, size] = world.shared_memory_local_rank();
  return LocalRank{rank, size, "MPI_COMM_TYPE_SHARED"};
}

// a) A hostfile in another order than [[cluster.node]] puts ranks on the wrong nodes.
Status check_host(const Topology& topology, const RankPlacement& placement, const World& world) {
  if (!world.launched() || topology.node_count() < 2) return Status::success();
  const TopologyNode& node = topology.nodes()[static_cast<std::size_t>(placement.node)];
  if (same_host(placement.host, node.name)) return Status::success();
  return input_error("rank {} runs on host {}, but the topology places it on node {} ([[cluster.node]] {} of {}): "
                     "list the hosts in the hostfile (or Slurm's node list) in the order of [[cluster.node]], each "
                     "with as many slots as its devices, and place ranks by slot (docs/launch.md)",
                     placement.rank, placement.host, node.name, placement.node + 1, topology.node_count());
}

// b) A GPU for each of the host's local ranks (job/placement.h: choose_gpu); this rank's is its
// slot in PCI bus order, or the one it sees under per-task binding.
Result<HostGpu> pick_gpu(const Topology& topology, const RankPlacement& placement, const HostDevices& host,
                         bool share, std::vector<std::string> local_single_gpus) {
  const TopologyNode& node = topology.nodes()[static_cast<std::size_t>(placement.node)];
  const std::string expects = fmt::format("node {} expects {}", node.name, describe_devices(topology, placement.node));
  if (host.gpus.empty()) {
    return input_error("{}; this host ({}) has no CUDA device ({}). `--rehearse` runs the same job on CPU ranks "
                       "instead (docs/launch.md)",
                       expects, placement.host, host.why_none);
  }
  const GpuChoice choice{host.gpus, placement.local, placement.slot, node.device_count, share,
                         std::move(local_single_gpus), placement.host, expects};
  LLMRT_ASSIGN_OR_RETURN(const int index, choose_gpu(choice));
  return host.gpus[static_cast<std::size_t>(index)];
}

// [local rank] the PCI bus id each rank of this host sees when it sees exactly one GPU, "" when
// not (per-task binding is told from it). Collective over the world: every rank calls it.
std::vector<std::string> local_single_gpus(const World& world, const std::string& host, const LocalRank& local,
                                           const HostDevices* devices) {
  const std::string single = devices != nullptr && devices->gpus.size() == 1 ? devices->gpus.front().pci_bus_id : "";
  const std::vector<std::string> all = world.all_gather(fmt::format("{}\n{}\n{}", local.rank, single, host));
  std::vector<std::string> ids(static_cast<std::size_t>(local.size));
  for (const std::string& entry : all) {
    const std::size_t first = entry.find('\n'), second = entry.find('\n', first + 1);
    if (first == std::string::npos || second == std::string::npos || entry.substr(second + 1) != host) continue;
    const int rank = std::atoi(entry.substr(0, first).c_str());
    if (rank >= 0 && rank < local.size) ids[static_cast<std::size_t>(rank)] = entry.substr(first + 1, second - first - 1);
  }
  return ids;
}

// The planner's peak memory of this rank for the resolved layout (job_checks.h held it against the
// topology's figure already; here it meets the real card).
Result<double> predicted_memory_gib(const OpenJob& job, const ResolvedJob& resolved, int rank) {
  if (resolved.planned) return resolved.planned->peak_memory_gib.at(static_cast<std::size_t>(rank));
  LLMRT_ASSIGN_OR_RETURN(const std::vector<double> gib,
                         predict_rank_memory_gib(job.plan_request(resolved.world_size), resolved.layout));
  return gib.at(static_cast<std::size_t>(rank));
}

Result<RankPlacement> place_on_host(const OpenJob& job, const ResolvedJob& resolved, const World& world,
                                    const LocalRank& local, const HostDevices& host,
                                    std::vector<std::string> single_gpus) {
  const Topology& topology = job.topology;
  const Device& device = topology.device(world.rank());
  RankPlacement placement;
  placement.rank = world.rank();
  placement.node = device.node;
  placement.slot = device.local_index;
  placement.host = this_host_name();
  placement.local = local;
  placement.rehearsal = job.rehearsal;
  if (placement.rehearsal) return placement;
  LLMRT_RETURN_IF_ERROR(check_host(topology, placement, world));
  if (device.model->is_cpu) return placement;
  LLMRT_ASSIGN_OR_RETURN(placement.gpu, pick_gpu(topology, placement, host, job.share_gpus, std::move(single_gpus)));
  const HostGpu& gpu = *placement.gpu;
  const std::string where = fmt::format("rank {} (node {}, GPU {}: CUDA {} {}, PCI {})", placement.rank,
                                        topology.nodes()[static_cast<std::size_t>(device.node)].name, placement.slot,
                                        gpu.ordinal, gpu.name, gpu.pci_bus_id);
  if (!card_model_matches(device.model->name, gpu.name) && local.rank == 0) {
    placement.warnings.push_back(fmt::format("{}: the topology names {}, the card is {}; the plan's predictions "
                                             "assume {}",
                                             where, device.model->name, gpu.name, device.model->name));
  }
  LLMRT_ASSIGN_OR_RETURN(const double predicted, predicted_memory_gib(job, resolved, world.rank()));
  // Ranks sharing a card (--share-gpus) share its memory too.
  const int sharing = job.share_gpus && !host.gpus.empty()
                          ? (local.size + static_cast<int>(host.gpus.size()) - 1) / static_cast<int>(host.gpus.size())
                          : 1;
  LLMRT_RETURN_IF_ERROR(check_card_memory(predicted * sharing, gpu, where));
  LLMRT_ASSIGN_OR_RETURN(placement.device, bind_cuda_device(gpu.ordinal));
  return placement;
}

// Rank 0's line for the run's plan paragraph: a rehearsal says so; GPU ranks say where they are.
std::string placement_summary(const Topology& topology, const RankPlacement& placement, int ranks,
                              const World& world) {
  const std::vector<std::string> hosts = world.gather(placement.host);  // collective
  if (world.rank() != 0) return "";
  std::vector<std::string> distinct;
  for (const std::string& host : hosts) {
    if (std::find(distinct.begin(), distinct.end(), host) == distinct.end()) distinct.push_back(host);
  }
  if (placement.rehearsal) {
    return fmt::format("rehearsal: {} played by {} CPU rank{} on {} (the checks of hosts, GPUs and their memory are "
                       "skipped)",
                       describe_devices(topology, -1), ranks, ranks == 1 ? "" : "s",
                       fmt::join(distinct, ", "));
  }
  if (!placement.gpu) return "";
  return fmt::format("devices: {} on {}, each rank bound to its node's GPU in PCI bus order (rank 0: CUDA {} {}, "
                     "PCI {}, {:.1f} GiB)",
                     describe_devices(topology, -1), fmt::join(distinct, ", "), placement.gpu->ordinal,
                     placement.gpu->name, placement.gpu->pci_bus_id,
                     static_cast<double>(placement.gpu->memory_bytes) / kGiB);
}

}  // namespace

Status check_card_memory(double predicted_gib, const HostGpu& gpu, std::string_view where) {
  const double card_gib = static_cast<double>(gpu.memory_bytes) / kGiB;
  if (predicted_gib <= card_gib) return Status::success();
  return input_error("{}: the plan predicts {:.1f} GiB per rank, the card has {:.1f} GiB: choose a layout that "
                     "needs less (`llmrt plan` with this card as a [[cluster.device_model]]), or a smaller "
                     "microbatch_size",
                     where, predicted_gib, card_gib);
}

Result<RankPlacement> place_rank(const OpenJob& job, const ResolvedJob& resolved, const World& world) {
  const LocalRank local = detect_local_rank(world);  // collective
  // The host's GPUs, asked only where a rank will bind one.
  const bool on_gpu = !job.rehearsal && !job.topology.device(world.rank()).model->is_cpu;
  const HostDevices host = on_gpu ? discover_host_devices() : HostDevices{};
  std::vector<std::string> single = local_single_gpus(world, this_host_name(), local, on_gpu ? &host : nullptr);
  auto placed = place_on_host(job, resolved, world, local, host, std::move(single));
  LLMRT_RETURN_IF_ERROR(world.agree(placed));
  placed->summary = placement_summary(job.topology, *placed, resolved.world_size, world);  // collective
  return placed;
}

}  // namespace llmrt
