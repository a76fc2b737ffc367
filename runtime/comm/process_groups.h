// The MPI communicators of one rank, created once at start-up, collectively and in the same
// order on every rank: tensor-parallel, data-parallel, pipeline, model-parallel (pp × tp, for
// the global gradient norm) and one per tied parameter shared by several pipeline stages.
// They also back the plugins' llmrt_comm handles, so a layer's all-reduce runs on its tp group.
#pragma once

#include <mpi.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include <llmrt/plugin.h>

#include "plan/layout.h"
#include "util/status.h"

// The host's definition of the plugins' opaque communicator handle.
struct llmrt_comm {
  MPI_Comm comm = MPI_COMM_NULL;
};

namespace llmrt {

class ProcessGroups {
 public:
  // `tie_stages`: for each tied parameter name, the pipeline ranks that hold a copy. Without
  // a launcher (world of one) every group is MPI_COMM_SELF-like: size 1, no MPI calls.
  static Result<std::unique_ptr<ProcessGroups>> create(const Layout& layout, int world_rank, bool launched,
                                                       const std::map<std::string, std::set<int>>& tie_stages);
  ~ProcessGroups();
  ProcessGroups(const ProcessGroups&) = delete;
  ProcessGroups& operator=(const ProcessGroups&) = delete;

  bool distributed() const { return distributed_; }
  int world_rank() const { return world_rank_; }
  const RankCoords& coords() const { return coords_; }
  MPI_Comm world() const { return MPI_COMM_WORLD; }
  MPI_Comm pipeline() const { return pp_.comm; }
  MPI_Comm data_parallel() const { return dp_.comm; }
  MPI_Comm model_parallel() const { return mp_.comm; }
  llmrt_comm* tensor_parallel_handle() { return &tp_; }
  // The group of pipeline stages holding tied parameter `name`; MPI_COMM_NULL when this rank
  // holds no copy or only one stage does.
  MPI_Comm tie(const std::string& name) const;
  // World rank of the pipeline rank `pp_rank` in this rank's pipeline.
  int world_rank_of_stage(int pp_rank) const;

 private:
  ProcessGroups() = default;
  Status split(MPI_Comm& out, int color, int key);

  bool distributed_ = false;
  int world_rank_ = 0;
  Layout layout_;
  RankCoords coords_;
  llmrt_comm tp_, dp_, pp_, mp_;
  std::map<std::string, MPI_Comm> ties_;
};

// Replaces the plugins' collective services with MPI ones on the handles above.
void install_mpi_collectives();

}  // namespace llmrt
