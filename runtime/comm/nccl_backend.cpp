// NCCL communicators from MPI ones, the NCCL-or-staging choice per group, and the plugin
// collective slots that route device pointers to them. See nccl_backend.h.
#include "comm/nccl_backend.h"

#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "comm/pipeline_links.h"
#include "comm/process_groups.h"
#include "plugin/host_api.h"

namespace llmrt {

namespace {

// The loaded NCCL. Only called once a group exists, which needed nccl_api() to succeed.
const NcclApi& nccl() { return **nccl_api(); }

// "<what>: <NCCL's text> (<NCCL's last error>)"; the last error names the failing transport.
Status check_nccl(ncclResult_t result, std::string_view what, ncclComm_t comm = nullptr) {
  if (result == ncclSuccess) return Status::success();
  const char* last = nccl().GetLastError(comm);
  if (last != nullptr && last[0] != '\0') return runtime_error("{}: {} ({})", what, nccl().GetErrorString(result), last);
  return runtime_error("{}: {}", what, nccl().GetErrorString(result));
}

Result<ncclDataType_t> nccl_type(std::int32_t dtype, std::string_view what) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: return ncclFloat32;
    case LLMRT_DTYPE_BF16: return ncclBfloat16;
    case LLMRT_DTYPE_F16: return ncclFloat16;
    case LLMRT_DTYPE_I32: return ncclInt32;
    case LLMRT_DTYPE_I64: return ncclInt64;
    case LLMRT_DTYPE_U8: return ncclUint8;
    default: return runtime_error("{}: dtype {} has no NCCL type", what, dtype);
  }
}

Result<ncclRedOp_t> nccl_op(std::int32_t op, std::string_view what) {
  switch (op) {
    case LLMRT_REDUCE_SUM: return ncclSum;
    case LLMRT_REDUCE_MAX: return ncclMax;
    case LLMRT_REDUCE_MIN: return ncclMin;
    default: return runtime_error("{}: unknown reduce op {}", what, op);
  }
}

}  // namespace

// ---------------------------------------------------------------------------- NcclGroup

Result<NcclGroup> NcclGroup::create(MPI_Comm comm, int cuda_device) {
  if (auto api = nccl_api(); !api.ok()) return api.error();
  NcclGroup group;
  MPI_Comm_rank(comm, &group.rank_);
  MPI_Comm_size(comm, &group.size_);
  // The id and rank 0's success travel together: a failed ncclGetUniqueId must not leave the
  // other ranks joining with garbage.
  struct Offer {
    ncclUniqueId id;
    int result;
  } offer{};
  if (group.rank_ == 0) offer.result = nccl().GetUniqueId(&offer.id);
  if (MPI_Bcast(&offer, sizeof(offer), MPI_BYTE, 0, comm) != MPI_SUCCESS) {
    return runtime_error("NCCL group of {}: MPI_Bcast of the unique id failed", group.size_);
  }
  LLMRT_RETURN_IF_ERROR(check_nccl(static_cast<ncclResult_t>(offer.result),
                                   fmt::format("NCCL group of {}: ncclGetUniqueId on its rank 0", group.size_)));
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaSetDevice(cuda_device), fmt::format("cudaSetDevice({})", cuda_device)));
  LLMRT_RETURN_IF_ERROR(check_nccl(nccl().CommInitRank(&group.comm_, group.size_, offer.id, group.rank_),
                                   fmt::format("ncclCommInitRank (rank {} of {}, device {})", group.rank_,
                                               group.size_, cuda_device)));
  return group;
}

NcclGroup::~NcclGroup() { destroy(); }

NcclGroup::NcclGroup(NcclGroup&& other) noexcept
    : comm_(std::exchange(other.comm_, nullptr)), rank_(other.rank_), size_(other.size_) {}

NcclGroup& NcclGroup::operator=(NcclGroup&& other) noexcept {
  if (this != &other) {
    destroy();
    comm_ = std::exchange(other.comm_, nullptr);
    rank_ = other.rank_;
    size_ = other.size_;
  }
  return *this;
}

void NcclGroup::destroy() noexcept {
  if (comm_ != nullptr) nccl().CommDestroy(comm_);  // a destructor cannot report; destroy flushes pending work
  comm_ = nullptr;
}

void NcclGroup::abort() noexcept {
  if (comm_ != nullptr) nccl().CommAbort(comm_);
  comm_ = nullptr;
}

Status NcclGroup::all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                             cudaStream_t stream) {
  LLMRT_ASSIGN_OR_RETURN(auto type, nccl_type(dtype, "ncclAllReduce"));
  LLMRT_ASSIGN_OR_RETURN(auto red, nccl_op(op, "ncclAllReduce"));
  return check_nccl(nccl().AllReduce(send, recv, count, type, red, comm_, stream),
                    fmt::format("ncclAllReduce of {} {} (rank {} of {})", count, dtype_name(dtype), rank_, size_),
                    comm_);
}

Status NcclGroup::all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                             cudaStream_t stream) {
  LLMRT_ASSIGN_OR_RETURN(auto type, nccl_type(dtype, "ncclAllGather"));
  return check_nccl(nccl().AllGather(send, recv, send_count, type, comm_, stream),
                    fmt::format("ncclAllGather of {} {} per rank (rank {} of {})", send_count, dtype_name(dtype),
                                rank_, size_),
                    comm_);
}

Status NcclGroup::reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype,
                                 std::int32_t op, cudaStream_t stream) {
  LLMRT_ASSIGN_OR_RETURN(auto type, nccl_type(dtype, "ncclReduceScatter"));
  LLMRT_ASSIGN_OR_RETURN(auto red, nccl_op(op, "ncclReduceScatter"));
  return check_nccl(nccl().ReduceScatter(send, recv, recv_count, type, red, comm_, stream),
                    fmt::format("ncclReduceScatter to {} {} per rank (rank {} of {})", recv_count, dtype_name(dtype),
                                rank_, size_),
                    comm_);
}

Status NcclGroup::broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, cudaStream_t stream) {
  LLMRT_ASSIGN_OR_RETURN(auto type, nccl_type(dtype, "ncclBroadcast"));
  return check_nccl(nccl().Broadcast(buffer, buffer, count, type, root, comm_, stream),
                    fmt::format("ncclBroadcast of {} {} from rank {} (rank {} of {})", count, dtype_name(dtype), root,
                                rank_, size_),
                    comm_);
}

Status NcclGroup::send(const void* buffer, std::size_t count, std::int32_t dtype, int peer, cudaStream_t stream) {
  DeviceP2p op{DeviceP2p::Kind::kSend, peer, const_cast<void*>(buffer), count, dtype};
  return exchange(std::span<const DeviceP2p>(&op, 1), stream);
}

Status NcclGroup::recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, cudaStream_t stream) {
  DeviceP2p op{DeviceP2p::Kind::kRecv, peer, buffer, count, dtype};
  return exchange(std::span<const DeviceP2p>(&op, 1), stream);
}

Status NcclGroup::exchange(std::span<const DeviceP2p> ops, cudaStream_t stream) {
  // Types first: once inside the group, a half-posted batch would still launch at ncclGroupEnd.
  std::vector<ncclDataType_t> types;
  types.reserve(ops.size());
  for (const DeviceP2p& op : ops) {
    LLMRT_ASSIGN_OR_RETURN(auto type, nccl_type(op.dtype, fmt::format("NCCL p2p with peer {}", op.peer)));
    types.push_back(type);
  }
  LLMRT_RETURN_IF_ERROR(check_nccl(nccl().GroupStart(), "ncclGroupStart", comm_));
  Status first = Status::success();
  for (std::size_t i = 0; i < ops.size() && first.ok(); i++) {
    const DeviceP2p& op = ops[i];
    const bool sending = op.kind == DeviceP2p::Kind::kSend;
    const ncclResult_t result = sending ? nccl().Send(op.buffer, op.count, types[i], op.peer, comm_, stream)
                                        : nccl().Recv(op.buffer, op.count, types[i], op.peer, comm_, stream);
    first = check_nccl(result,
                       fmt::format("{} of {} {} {} peer {} (rank {} of {})", sending ? "ncclSend" : "ncclRecv",
                                   op.count, dtype_name(op.dtype), sending ? "to" : "from", op.peer, rank_, size_),
                       comm_);
  }
  // The group must be closed even after a failure, or every later NCCL call on this thread joins it.
  const Status closed = check_nccl(nccl().GroupEnd(), "ncclGroupEnd of a p2p batch", comm_);
  return first.ok() ? closed : first;
}

// ---------------------------------------------------------------------------- DeviceComm

Result<bool> members_own_devices(MPI_Comm comm, int cuda_device) {
  cudaDeviceProp properties{};
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaGetDeviceProperties(&properties, cuda_device),
                                   fmt::format("cudaGetDeviceProperties({})", cuda_device)));
  int size = 1;
  MPI_Comm_size(comm, &size);
  constexpr int kUuidBytes = sizeof(properties.uuid.bytes);
  std::vector<char> uuids(static_cast<std::size_t>(size) * kUuidBytes);
  if (MPI_Allgather(properties.uuid.bytes, kUuidBytes, MPI_BYTE, uuids.data(), kUuidBytes, MPI_BYTE, comm) !=
      MPI_SUCCESS) {
    return runtime_error("MPI_Allgather of the GPU UUIDs failed");
  }
  for (int a = 0; a < size; a++) {
    for (int b = a + 1; b < size; b++) {
      if (std::memcmp(&uuids[a * kUuidBytes], &uuids[b * kUuidBytes], kUuidBytes) == 0) return false;
    }
  }
  return true;
}

Result<std::unique_ptr<DeviceComm>> DeviceComm::create(MPI_Comm comm, int cuda_device, PinnedStaging& staging,
                                                       DeviceBackend backend) {
  std::unique_ptr<DeviceComm> device(new DeviceComm());
  device->comm_ = comm;
  device->staging_ = &staging;
  if (comm == MPI_COMM_NULL) return device;  // a group of one: Path::kAlone
  device->path_ = Path::kStaging;
  if (backend == DeviceBackend::kStaging) return device;
  // Every rank computes the same answer from the same gathered UUIDs: the NCCL init below is
  // entered by all members or by none.
  LLMRT_ASSIGN_OR_RETURN(auto own, members_own_devices(comm, cuda_device));
  if (!own) {
    if (backend == DeviceBackend::kNccl) {
      return runtime_error("NCCL was asked for, but two ranks of this group share one GPU (NCCL refuses that); "
                           "use one rank per GPU or the staging path");
    }
    return device;
  }
  // NCCL is loaded at run time: every member must have it, or none uses it.
  const auto api = nccl_api();
  int everywhere = api.ok() ? 1 : 0;
  if (MPI_Allreduce(MPI_IN_PLACE, &everywhere, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) {
    return runtime_error("MPI_Allreduce of NCCL's availability failed");
  }
  if (everywhere == 0) {
    const std::string why = api.ok() ? "another rank of the group cannot load NCCL" : api.error().message();
    if (backend == DeviceBackend::kNccl) return runtime_error("NCCL was asked for: {}", why);
    device->fallback_reason_ = why;
    return device;
  }
  LLMRT_ASSIGN_OR_RETURN(auto group, NcclGroup::create(comm, cuda_device));
  device->nccl_ = std::move(group);
  device->path_ = Path::kNccl;
  return device;
}

std::string_view DeviceComm::path_name() const {
  switch (path_) {
    case Path::kAlone: return "alone";
    case Path::kNccl: return "nccl";
    case Path::kStaging: return staging_->direct() ? "mpi (cuda-aware)" : "mpi (pinned staging)";
  }
  return "?";
}

std::string DeviceComm::describe() const {
  if (path_ == Path::kNccl) {
    const int version = (*nccl_api())->version;
    return fmt::format("nccl {}.{}.{}", version / 10000, version / 100 % 100, version % 100);
  }
  if (!fallback_reason_.empty()) return fmt::format("{} ({})", path_name(), fallback_reason_);
  return std::string(path_name());
}

namespace {

// A group of one: the result is the input.
Status copy_on_stream(const void* send, void* recv, std::size_t count, std::int32_t dtype, cudaStream_t stream) {
  if (send == recv || count == 0) return Status::success();
  return check_cuda(cudaMemcpyAsync(recv, send, count * dtype_size(dtype), cudaMemcpyDeviceToDevice, stream),
                    "copy for a group of one");
}

constexpr int kP2pTag = 0x4c50;  // MPI tag of staged activations; NCCL p2p has no tags

}  // namespace

Status DeviceComm::all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                              cudaStream_t stream) {
  switch (path_) {
    case Path::kAlone: return copy_on_stream(send, recv, count, dtype, stream);
    case Path::kNccl: return nccl_.all_reduce(send, recv, count, dtype, op, stream);
    case Path::kStaging: return staging_->all_reduce_device(comm_, send, recv, count, dtype, op, stream);
  }
  return Status::success();
}

Status DeviceComm::all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                              cudaStream_t stream) {
  switch (path_) {
    case Path::kAlone: return copy_on_stream(send, recv, send_count, dtype, stream);
    case Path::kNccl: return nccl_.all_gather(send, recv, send_count, dtype, stream);
    case Path::kStaging: return staging_->all_gather_device(comm_, send, recv, send_count, dtype, stream);
  }
  return Status::success();
}

Status DeviceComm::reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype,
                                  std::int32_t op, cudaStream_t stream) {
  switch (path_) {
    case Path::kAlone: return copy_on_stream(send, recv, recv_count, dtype, stream);
    case Path::kNccl: return nccl_.reduce_scatter(send, recv, recv_count, dtype, op, stream);
    case Path::kStaging: return staging_->reduce_scatter_device(comm_, send, recv, recv_count, dtype, op, stream);
  }
  return Status::success();
}

Status DeviceComm::broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, cudaStream_t stream) {
  switch (path_) {
    case Path::kAlone: return Status::success();
    case Path::kNccl: return nccl_.broadcast(buffer, count, dtype, root, stream);
    case Path::kStaging: return staging_->broadcast_device(comm_, buffer, count, dtype, root, stream);
  }
  return Status::success();
}

Status DeviceComm::exchange(std::span<const DeviceP2p> ops, cudaStream_t stream) {
  switch (path_) {
    case Path::kAlone:
      return ops.empty() ? Status::success() : runtime_error("p2p on a group of one: there is no peer");
    case Path::kNccl: return nccl_.exchange(ops, stream);
    case Path::kStaging: return staging_->exchange_device(comm_, ops, kP2pTag, stream);
  }
  return Status::success();
}

// ---------------------------------------------------------------------------- GpuCollectives

Result<std::unique_ptr<GpuCollectives>> GpuCollectives::create(int cuda_device) {
  std::unique_ptr<GpuCollectives> gpu(new GpuCollectives());
  gpu->device_ = cuda_device;
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaSetDevice(cuda_device), fmt::format("cudaSetDevice({})", cuda_device)));
  LLMRT_ASSIGN_OR_RETURN(auto staging, PinnedStaging::create(mpi_is_cuda_aware()));
  gpu->staging_ = std::make_unique<PinnedStaging>(std::move(staging));
  gpu->p2p_ = std::make_unique<StagedP2p>(gpu->staging_->direct());
  return gpu;
}

Result<DeviceComm*> GpuCollectives::attach(MPI_Comm comm, DeviceBackend backend) {
  LLMRT_ASSIGN_OR_RETURN_CTX(auto device, DeviceComm::create(comm, device_, *staging_, backend),
                             "attaching a process group to the GPU");
  device->set_p2p(p2p_.get());
  unnamed_.push_back(std::move(device));
  return unnamed_.back().get();
}

DeviceComm::~DeviceComm() = default;

Status DeviceComm::link_pipeline(int cuda_device) {
  if (path_ != Path::kNccl) return Status::success();
  LLMRT_ASSIGN_OR_RETURN_CTX(links_, PipelineLinks::create(comm_, cuda_device), "the pipeline's NCCL links");
  return Status::success();
}

void DeviceComm::match_p2p_by_tag(std::string why) {
  if (links_ != nullptr) tag_reason_ = std::move(why);
}

std::string DeviceComm::describe_p2p() const {
  if (links_ != nullptr && tag_reason_.empty()) {
    return fmt::format("NCCL ({} link{}, each FIFO on its own stream)", links_->link_count(),
                       links_->link_count() == 1 ? "" : "s");
  }
  std::string why = !tag_reason_.empty() ? tag_reason_ : fallback_reason_;
  if (why.empty() && path_ == Path::kStaging) why = "NCCL needs one GPU per rank; ranks of this pipeline share one";
  if (why.empty()) why = "a pipeline of one";
  const char* how = staging_ != nullptr && staging_->direct() ? "CUDA-aware" : "pinned host buffers";
  return fmt::format("staged MPI ({}; {})", how, why);
}

Result<RequestPtr> DeviceComm::start_send(const void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                          cudaStream_t stream) {
  if (links_ != nullptr && tag_reason_.empty()) return links_->start_send(buffer, count, dtype, peer, stream);
  if (comm_ == MPI_COMM_NULL || p2p_ == nullptr) return runtime_error("a send in a group of one, or before set_p2p");
  return p2p_->start_send(comm_, buffer, count, dtype, peer, tag, stream);
}

Result<RequestPtr> DeviceComm::start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                          cudaStream_t stream) {
  if (links_ != nullptr && tag_reason_.empty()) return links_->start_recv(buffer, count, dtype, peer, stream);
  if (comm_ == MPI_COMM_NULL || p2p_ == nullptr) return runtime_error("a receive in a group of one, or before set_p2p");
  return p2p_->start_recv(comm_, buffer, count, dtype, peer, tag, stream);
}

}  // namespace llmrt
