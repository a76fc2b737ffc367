// The process groups of one rank, created once at start-up, collectively and in the same order
// on every rank: tensor-parallel, data-parallel, pipeline, model-parallel (pp × tp, for the
// global gradient norm), the world, and one per tied parameter shared by several pipeline
// stages. Each group comes with its Collectives, chosen by the rank's device (MPI on host
// memory; NCCL or MPI through pinned buffers on a GPU); the plugins' llmrt_comm handles point
// at them, so a layer's all-reduce runs on its tp group with nothing installed anywhere.
#pragma once

#include <mpi.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <llmrt/plugin.h>

#include "device/collectives.h"
#include "device/device.h"
#include "plan/layout.h"
#include "util/status.h"

namespace llmrt {

class GpuCollectives;  // comm/nccl_backend.h, in builds with NCCL
class DeviceComm;

class ProcessGroups {
 public:
  // `tie_stages`: for each tied parameter name, the pipeline ranks that hold a copy. Without
  // a launcher (world of one) every group is a SelfCollectives: size 1, no MPI calls.
  // `device`: where this rank's tensors live (nullptr: the CPU); it must outlive the groups.
  static Result<std::unique_ptr<ProcessGroups>> create(const Layout& layout, int world_rank, bool launched,
                                                       const std::map<std::string, std::set<int>>& tie_stages,
                                                       ComputeDevice* device = nullptr);
  ~ProcessGroups();
  ProcessGroups(const ProcessGroups&) = delete;
  ProcessGroups& operator=(const ProcessGroups&) = delete;

  bool distributed() const { return distributed_; }
  int world_rank() const { return world_rank_; }
  const RankCoords& coords() const { return coords_; }
  ComputeDevice& device() const { return *device_; }
  // On a GPU rank, which path each of its groups' device buffers take ("nccl 2.27.3 (3 groups),
  // mpi (pinned staging) (1 group)", with why NCCL was not taken); "" on CPU ranks.
  std::string device_paths() const;

  Collectives& world() { return *world_.collectives; }
  Collectives& tensor_parallel() { return *tp_.collectives; }
  Collectives& data_parallel() { return *dp_.collectives; }
  Collectives& pipeline() { return *pp_.collectives; }
  Collectives& model_parallel() { return *mp_.collectives; }
  // The plugins' handle of the tp group (llmrt_call_ctx.tp_comm).
  llmrt_comm* tensor_parallel_handle() { return &tp_; }
  // The group of pipeline stages holding tied parameter `name`; nullptr when this rank holds
  // no copy or only one stage does.
  Collectives* tie(const std::string& name);
  // World rank of the pipeline rank `pp_rank` in this rank's pipeline.
  int world_rank_of_stage(int pp_rank) const;

 private:
  ProcessGroups() = default;
  // Splits the world (collective) and builds the group's collectives; MPI_UNDEFINED: not a member.
  Result<Collectives*> split(int color, int key);
  Result<Collectives*> collectives_for(MPI_Comm comm);

  bool distributed_ = false;
  int world_rank_ = 0;
  ComputeDevice* device_ = nullptr;
  std::vector<std::string> device_paths_;  // per GPU group: DeviceComm::describe()
  Layout layout_;
  RankCoords coords_;
  std::vector<MPI_Comm> comms_;                            // owned, freed last
  std::vector<std::unique_ptr<Collectives>> collectives_;  // one per group
  std::unique_ptr<GpuCollectives> gpu_;  // the GPU side of every group, on a CUDA device
  DeviceComm* last_attached_ = nullptr;  // the device side of the group split last (GPU ranks)
  llmrt_comm world_, tp_, dp_, pp_, mp_;
  std::map<std::string, Collectives*> ties_;
};

}  // namespace llmrt
