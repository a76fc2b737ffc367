#include "comm/process_groups.h"

#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "comm/mpi_collectives.h"
#if LLMRT_HAVE_NCCL
#include "comm/gpu_collectives.h"
#include "comm/nccl_backend.h"
#else
namespace llmrt {
class GpuCollectives {};  // never made in a build without NCCL
class DeviceComm {};
}  // namespace llmrt
#endif

namespace llmrt {

// Host memory goes over MPI; device memory over the GPU path chosen per group.
Result<Collectives*> ProcessGroups::collectives_for(MPI_Comm comm) {
  std::unique_ptr<Collectives> made;
  if (device_->is_host()) {
    made = std::make_unique<MpiCollectives>(comm);
  } else {
#if LLMRT_HAVE_NCCL
    if (!gpu_) {
      LLMRT_ASSIGN_OR_RETURN(gpu_, GpuCollectives::create(device_->id().index));
    }
    LLMRT_ASSIGN_OR_RETURN(DeviceComm * on_device, gpu_->attach(comm));
    last_attached_ = on_device;
    if (on_device->path() != DeviceComm::Path::kAlone) device_paths_.push_back(on_device->describe());
    made = std::make_unique<DeviceMemoryCollectives>(comm, *on_device);
#else
    return input_error("a process group on device type {}: this build has no NCCL", device_->id().type);
#endif
  }
  collectives_.push_back(std::move(made));
  return collectives_.back().get();
}

std::string ProcessGroups::device_paths() const {
  std::map<std::string, int> groups;  // path -> groups taking it
  for (const std::string& path : device_paths_) ++groups[path];
  std::vector<std::string> parts;
  for (const auto& [path, count] : groups) parts.push_back(fmt::format("{} ({} group{})", path, count, count == 1 ? "" : "s"));
  return fmt::format("{}", fmt::join(parts, ", "));
}

Result<Collectives*> ProcessGroups::split(int color, int key) {
  MPI_Comm comm = MPI_COMM_NULL;
  if (MPI_Comm_split(MPI_COMM_WORLD, color, key, &comm) != MPI_SUCCESS) {
    return runtime_error("MPI_Comm_split failed building the process groups");
  }
  if (comm == MPI_COMM_NULL) return static_cast<Collectives*>(nullptr);
  comms_.push_back(comm);
  return collectives_for(comm);
}

Result<std::unique_ptr<ProcessGroups>> ProcessGroups::create(const Layout& layout, int world_rank, bool launched,
                                                             const std::map<std::string, std::set<int>>& tie_stages,
                                                             ComputeDevice* device) {
  std::unique_ptr<ProcessGroups> groups(new ProcessGroups());
  groups->distributed_ = launched;
  groups->world_rank_ = world_rank;
  groups->device_ = device != nullptr ? device : &cpu_device();
  groups->layout_ = layout;
  groups->coords_ = layout.coords_of(world_rank);
  if (!launched) {
    // A world of one: every group is this rank alone, on its device.
    auto& alone = groups->collectives_.emplace_back(std::make_unique<SelfCollectives>(*groups->device_));
    for (llmrt_comm* handle : {&groups->world_, &groups->tp_, &groups->dp_, &groups->pp_, &groups->mp_}) {
      handle->collectives = alone.get();
    }
    return groups;
  }
  const RankCoords& c = groups->coords_;
  // Same calls in the same order on every rank: each split is collective over the world.
  LLMRT_ASSIGN_OR_RETURN(groups->world_.collectives, groups->split(0, world_rank));
  LLMRT_ASSIGN_OR_RETURN(groups->tp_.collectives, groups->split(c.pp * layout.dp + c.dp, c.tp));
  LLMRT_ASSIGN_OR_RETURN(groups->dp_.collectives, groups->split(c.pp * layout.tp + c.tp, c.dp));
  LLMRT_ASSIGN_OR_RETURN(groups->pp_.collectives, groups->split(c.dp * layout.tp + c.tp, c.pp));
#if LLMRT_HAVE_NCCL
  // GPU pipelines that took NCCL: one communicator per directed link (collective over the pipeline).
  if (groups->gpu_ && layout.pp > 1) LLMRT_RETURN_IF_ERROR(groups->last_attached_->link_pipeline(groups->gpu_->device()));
#endif
  LLMRT_ASSIGN_OR_RETURN(groups->mp_.collectives, groups->split(c.dp, c.pp * layout.tp + c.tp));
  for (const auto& [name, stages] : tie_stages) {  // std::map: the same order everywhere
    const bool member = stages.size() > 1 && stages.count(c.pp) > 0;
    LLMRT_ASSIGN_OR_RETURN(groups->ties_[name], groups->split(member ? c.dp * layout.tp + c.tp : MPI_UNDEFINED, c.pp));
  }
  return groups;
}

ProcessGroups::~ProcessGroups() {
  collectives_.clear();  // they borrow the communicators
  gpu_.reset();
  for (MPI_Comm& comm : comms_) MPI_Comm_free(&comm);
}

Collectives* ProcessGroups::tie(const std::string& name) {
  auto it = ties_.find(name);
  return it == ties_.end() ? nullptr : it->second;
}

int ProcessGroups::world_rank_of_stage(int pp_rank) const {
  RankCoords peer = coords_;
  peer.pp = pp_rank;
  return layout_.rank_of(peer);
}

}  // namespace llmrt
