// Where each rank runs: the node and GPU slot the topology gives it, held against the host it
// landed on before step 0 — the host's name (a hostfile in the wrong order), whether it has the
// GPUs the node names, their model and their memory — and the GPU bound. With --rehearse the
// same job runs on CPU ranks instead: every check on the host is skipped, and said.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "comm/world.h"
#include "device/device.h"
#include "device/host_devices.h"
#include "util/status.h"

namespace llmrt {

struct OpenJob;
struct ResolvedJob;

// This rank's index among the ranks on its host, and how many there are.
struct LocalRank {
  int rank = 0;
  int size = 1;
  std::string source;  // where it came from: "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", ...
};

// Reads one environment variable; nullptr when unset (std::getenv, or a map in tests).
using EnvLookup = std::function<const char*(const char*)>;

// The launcher's word on this rank's place in its host: Open MPI (OMPI_COMM_WORLD_LOCAL_RANK and
// _LOCAL_SIZE), else Slurm (SLURM_LOCALID with SLURM_NTASKS_PER_NODE, or the tasks per node of a
// uniform step: SLURM_STEP_TASKS_PER_NODE / SLURM_TASKS_PER_NODE "8" or "8(x2)"). nullopt when
// no launcher says, or says something that is not a local rank below a local size.
std::optional<LocalRank> local_rank_from_env(const EnvLookup& env);

// Host names as people write them: case-insensitive, up to the first '.', so "dgx01" is
// "DGX01.cluster.example.org". A node named "localhost" is whichever host runs it.
bool same_host(std::string_view host, std::string_view node_name);

// Whether a CUDA device name ("NVIDIA H100 80GB HBM3") is of the catalog's model ("H100-SXM"):
// the model's family — its name without memory size and form factor, e.g. "H100", "RTX3090",
// "L40S" — appears in the device's name, ignoring case, spaces and dashes, and not as the
// start of a longer number ("A10" is not "A100").
bool card_model_matches(std::string_view catalog_model, std::string_view device_name);

// What choosing this rank's GPU needs, as plain data (tests give fake device lists).
struct GpuChoice {
  std::vector<HostGpu> visible;  // the GPUs this process sees, in PCI bus order
  LocalRank local;
  int slot = 0;                  // the rank's GPU index on its node (the topology's, PCI bus order)
  int node_gpus = 0;             // the node's GPUs in the topology
  bool share = false;            // --share-gpus: ranks beyond the GPUs share them round-robin
  // [local rank] the PCI bus id each local rank of this host sees when it sees exactly one GPU
  // ("" when it sees another number): per-task binding (srun --gpus-per-task=1, or
  // CUDA_VISIBLE_DEVICES naming one GPU per rank).
  std::vector<std::string> local_single_gpus;
  std::string host;     // this host's name, for messages
  std::string expects;  // "node dgx01 expects 8 × A100-80GB-SXM", for messages
};

// b) The index into choice.visible this rank binds. All of the node's GPUs visible: its slot; a
// node split over hosts: its local rank; exactly one visible while the host runs several ranks
// (per-task binding): that one, after checking against the other local ranks' PCI bus ids that
// each rank has its own and that, in PCI bus order, it is the GPU its slot names (every rank
// seeing the same one is a host with too few GPUs). Otherwise an input error naming the host,
// what it has and what it expects.
Result<int> choose_gpu(const GpuChoice& choice);

struct RankPlacement {
  int rank = 0;
  int node = 0;      // index into Topology::nodes()
  int slot = 0;      // the device index within the node: its GPU index, or its CPU rank
  std::string host;  // this host's name
  LocalRank local;
  bool rehearsal = false;
  std::optional<HostGpu> gpu;        // the GPU this rank is bound to (GPU node, not a rehearsal)
  ComputeDevice* device = nullptr;   // where the rank's tensors live; nullptr: the CPU
  std::vector<std::string> warnings;  // this rank's: a card of another model than the topology's
  std::string summary;               // rank 0: the line the run's plan paragraph prints ("" for CPU ranks)
};

// d) A card holds the plan's predicted peak memory for its rank, else an input error naming both
// figures and `where` (the rank, node and card).
Status check_card_memory(double predicted_gib, const HostGpu& gpu, std::string_view where);

// Places this rank for `resolved` and checks the host: a) in a topology of several nodes, the
// host is the node the topology gives the rank; b) a GPU node's host has a CUDA GPU for each of
// its local ranks; c) another card model is a warning; d) each card holds the plan's predicted
// memory for its rank. Then binds the GPU (cudaSetDevice). A rehearsal (job.rehearsal) skips
// a–d and plays every device by a CPU rank. Collective: every rank fails when one does (exit 2).
Result<RankPlacement> place_rank(const OpenJob& job, const ResolvedJob& resolved, const World& world);

}  // namespace llmrt
