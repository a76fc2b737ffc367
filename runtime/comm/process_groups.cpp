#include "comm/process_groups.h"

#include <cstring>

#include "plugin/host_api.h"

namespace llmrt {

Status ProcessGroups::split(MPI_Comm& out, int color, int key) {
  if (MPI_Comm_split(MPI_COMM_WORLD, color, key, &out) != MPI_SUCCESS) {
    return runtime_error("MPI_Comm_split failed building the process groups");
  }
  return Status::success();
}

Result<std::unique_ptr<ProcessGroups>> ProcessGroups::create(const Layout& layout, int world_rank, bool launched,
                                                             const std::map<std::string, std::set<int>>& tie_stages) {
  std::unique_ptr<ProcessGroups> groups(new ProcessGroups());
  groups->distributed_ = launched;
  groups->world_rank_ = world_rank;
  groups->layout_ = layout;
  groups->coords_ = layout.coords_of(world_rank);
  if (!launched) return groups;
  const RankCoords& c = groups->coords_;
  // Same calls in the same order on every rank: each split is collective over the world.
  LLMRT_RETURN_IF_ERROR(groups->split(groups->tp_.comm, c.pp * layout.dp + c.dp, c.tp));
  LLMRT_RETURN_IF_ERROR(groups->split(groups->dp_.comm, c.pp * layout.tp + c.tp, c.dp));
  LLMRT_RETURN_IF_ERROR(groups->split(groups->pp_.comm, c.dp * layout.tp + c.tp, c.pp));
  LLMRT_RETURN_IF_ERROR(groups->split(groups->mp_.comm, c.dp, c.pp * layout.tp + c.tp));
  for (const auto& [name, stages] : tie_stages) {  // std::map: the same order everywhere
    MPI_Comm comm = MPI_COMM_NULL;
    const bool member = stages.size() > 1 && stages.count(c.pp) > 0;
    LLMRT_RETURN_IF_ERROR(groups->split(comm, member ? c.dp * layout.tp + c.tp : MPI_UNDEFINED, c.pp));
    groups->ties_[name] = comm;
  }
  return groups;
}

ProcessGroups::~ProcessGroups() {
  for (llmrt_comm* handle : {&tp_, &dp_, &pp_, &mp_}) {
    if (handle->comm != MPI_COMM_NULL) MPI_Comm_free(&handle->comm);
  }
  for (auto& [name, comm] : ties_) {
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
  }
}

MPI_Comm ProcessGroups::tie(const std::string& name) const {
  auto it = ties_.find(name);
  return it == ties_.end() ? MPI_COMM_NULL : it->second;
}

int ProcessGroups::world_rank_of_stage(int pp_rank) const {
  RankCoords peer = coords_;
  peer.pp = pp_rank;
  return layout_.rank_of(peer);
}

namespace {

MPI_Datatype mpi_type(std::int32_t dtype) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: return MPI_FLOAT;
    case LLMRT_DTYPE_I32: return MPI_INT32_T;
    case LLMRT_DTYPE_I64: return MPI_INT64_T;
    case LLMRT_DTYPE_U8: return MPI_UINT8_T;
    default: return MPI_DATATYPE_NULL;  // bf16/f16 reductions need NCCL or a custom op
  }
}

MPI_Op mpi_op(std::int32_t op) {
  return op == LLMRT_REDUCE_MAX ? MPI_MAX : op == LLMRT_REDUCE_MIN ? MPI_MIN : MPI_SUM;
}

bool alone(const llmrt_comm* comm) { return comm == nullptr || comm->comm == MPI_COMM_NULL; }

llmrt_status* fail(const char* what) { return plugin_host_api()->status_new(LLMRT_INTERNAL, what); }

llmrt_status* comm_info(llmrt_comm* comm, std::int32_t* rank, std::int32_t* size) {
  *rank = 0;
  *size = 1;
  if (alone(comm)) return nullptr;
  MPI_Comm_rank(comm->comm, rank);
  MPI_Comm_size(comm->comm, size);
  return nullptr;
}

llmrt_status* all_reduce(llmrt_comm* comm, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                         std::int32_t op, llmrt_stream*) {
  if (alone(comm)) {
    if (send != recv) std::memmove(recv, send, count * dtype_size(dtype));
    return nullptr;
  }
  if (mpi_type(dtype) == MPI_DATATYPE_NULL) return fail("all_reduce: dtype not supported by the MPI backend");
  const void* source = send == recv ? MPI_IN_PLACE : send;
  if (MPI_Allreduce(source, recv, static_cast<int>(count), mpi_type(dtype), mpi_op(op), comm->comm) != MPI_SUCCESS) {
    return fail("MPI_Allreduce failed");
  }
  return nullptr;
}

llmrt_status* all_gather(llmrt_comm* comm, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                         llmrt_stream*) {
  if (alone(comm)) {
    if (send != recv) std::memmove(recv, send, count * dtype_size(dtype));
    return nullptr;
  }
  if (MPI_Allgather(send, static_cast<int>(count), mpi_type(dtype), recv, static_cast<int>(count), mpi_type(dtype),
                    comm->comm) != MPI_SUCCESS) {
    return fail("MPI_Allgather failed");
  }
  return nullptr;
}

llmrt_status* reduce_scatter(llmrt_comm* comm, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                             std::int32_t op, llmrt_stream*) {
  if (alone(comm)) {
    if (send != recv) std::memmove(recv, send, count * dtype_size(dtype));
    return nullptr;
  }
  if (MPI_Reduce_scatter_block(send, recv, static_cast<int>(count), mpi_type(dtype), mpi_op(op), comm->comm) !=
      MPI_SUCCESS) {
    return fail("MPI_Reduce_scatter_block failed");
  }
  return nullptr;
}

llmrt_status* broadcast(llmrt_comm* comm, void* buffer, std::size_t count, std::int32_t dtype, std::int32_t root,
                        llmrt_stream*) {
  if (alone(comm)) return nullptr;
  if (MPI_Bcast(buffer, static_cast<int>(count), mpi_type(dtype), root, comm->comm) != MPI_SUCCESS) {
    return fail("MPI_Bcast failed");
  }
  return nullptr;
}

}  // namespace

void install_mpi_collectives() {
  llmrt_host_api& api = mutable_plugin_host_api();
  api.comm_info = &comm_info;
  api.all_reduce = &all_reduce;
  api.all_gather = &all_gather;
  api.reduce_scatter = &reduce_scatter;
  api.broadcast = &broadcast;
}

}  // namespace llmrt
