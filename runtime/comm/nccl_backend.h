// Collectives on GPU memory: NCCL communicators built from the MPI process groups, and the
// choice per group between NCCL and the pinned staging path (comm/gpu_collectives.h puts them
// behind the Collectives interface).
#pragma once

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <llmrt/plugin.h>

#include "comm/device_staging.h"
#include "comm/nccl_library.h"
#include "comm/staged_p2p.h"
#include "util/status.h"

namespace llmrt {

class PipelineLinks;  // comm/pipeline_links.h

// The CUDA stream behind a plugin's llmrt_stream: by convention the runtime passes the
// cudaStream_t itself as the opaque pointer (NULL: the legacy default stream).
inline cudaStream_t cuda_stream_of(llmrt_stream* stream) { return reinterpret_cast<cudaStream_t>(stream); }
inline llmrt_stream* llmrt_stream_of(cudaStream_t stream) { return reinterpret_cast<llmrt_stream*>(stream); }

// An owned ncclComm_t spanning the ranks of one MPI communicator. Move-only. Every call is
// enqueued on `stream` and returns before the transfer is done, like the NCCL call it wraps.
class NcclGroup {
 public:
  // Collective over `comm`: rank 0 makes the unique id, MPI_Bcast hands it to the others, each
  // binds `cuda_device` and joins. Every member must own a distinct GPU (NCCL refuses two
  // ranks on one device); members_own_devices() tells. A member that fails here leaves the
  // others waiting inside NCCL's bootstrap: the watchdog, not this call, ends that.
  static Result<NcclGroup> create(MPI_Comm comm, int cuda_device);

  NcclGroup() = default;
  ~NcclGroup();
  NcclGroup(NcclGroup&& other) noexcept;
  NcclGroup& operator=(NcclGroup&& other) noexcept;
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  ncclComm_t get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  // send, recv: `count` elements of dtype (f32, bf16, f16, i32, i64, u8) on the device; may
  // alias. op: llmrt_reduce_op (sum, max, min).
  Status all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                    cudaStream_t stream);
  // send: send_count elements; recv: send_count * size, rank r's block at r * send_count.
  Status all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype, cudaStream_t stream);
  // send: recv_count * size elements; recv: this rank's reduced block of recv_count.
  Status reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype, std::int32_t op,
                        cudaStream_t stream);
  Status broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, cudaStream_t stream);
  // Point to point within the group; a send must meet the peer's recv of the same size.
  Status send(const void* buffer, std::size_t count, std::int32_t dtype, int peer, cudaStream_t stream);
  Status recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, cudaStream_t stream);
  // All of `ops` inside one ncclGroupStart/End, so paired sends and receives cannot deadlock.
  Status exchange(std::span<const DeviceP2p> ops, cudaStream_t stream);

  // Ends the communicator now (ncclCommAbort), so operations stuck on a dead peer return. For
  // the watchdog; the group is unusable afterwards.
  void abort() noexcept;

 private:
  void destroy() noexcept;
  ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 0;
};

// Collective over `comm`: true when no two members run on the same GPU (compared by device
// UUID, so CUDA_VISIBLE_DEVICES renumbering and several nodes are fine).
Result<bool> members_own_devices(MPI_Comm comm, int cuda_device);

// Which path a group's device buffers take.
enum class DeviceBackend {
  kAuto,     // NCCL when every member owns its GPU, else staging (the same answer on every rank)
  kNccl,     // NCCL or an error
  kStaging,  // MPI through pinned host memory (direct when MPI is CUDA-aware)
};

// How one process group moves device buffers. Calls are collective over the group, as the
// matching MPI or NCCL call is. A group of one (MPI_COMM_NULL) copies and never communicates.
class DeviceComm {
 public:
  enum class Path { kAlone, kNccl, kStaging };

  // Collective over `comm` (unless MPI_COMM_NULL). `staging` must outlive the DeviceComm.
  static Result<std::unique_ptr<DeviceComm>> create(MPI_Comm comm, int cuda_device, PinnedStaging& staging,
                                                    DeviceBackend backend = DeviceBackend::kAuto);

  Path path() const { return path_; }
  std::string_view path_name() const;
  // For the run's plan paragraph: "nccl 2.27.3", "mpi (pinned staging)", or the staging path
  // with why NCCL was not taken ("NCCL is not available: ...").
  std::string describe() const;
  NcclGroup* nccl() { return path_ == Path::kNccl ? &nccl_ : nullptr; }

  // Shapes as NcclGroup's; reductions on the staging path are f32/i32/i64 only.
  Status all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                    cudaStream_t stream);
  Status all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype, cudaStream_t stream);
  Status reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype, std::int32_t op,
                        cudaStream_t stream);
  Status broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, cudaStream_t stream);
  Status exchange(std::span<const DeviceP2p> ops, cudaStream_t stream);
  // Pipeline p2p of the executor, non-blocking: over the group's NCCL links when
  // link_pipeline() made them and no schedule asked for tags (comm/pipeline_links.h: FIFO per
  // directed link, ordered on `stream` by events), else matched by tag through MPI (staged, or
  // direct when MPI is CUDA-aware; comm/staged_p2p.h). Needs set_p2p() (GpuCollectives::attach).
  Result<RequestPtr> start_send(const void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                cudaStream_t stream);
  Result<RequestPtr> start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                cudaStream_t stream);
  void set_p2p(StagedP2p* p2p) { p2p_ = p2p; }
  // The pipeline group (collective over it): one NCCL communicator per directed link when the
  // group took NCCL; otherwise nothing, and p2p stays on the tag-matched MPI path.
  Status link_pipeline(int cuda_device);
  // A schedule whose links are not in the same order on both ends (schedule/link_order.h):
  // its messages go by tag instead. Every member of the group gets the same schedule, so the
  // same answer. `why` is said by describe_p2p().
  void match_p2p_by_tag(std::string why);
  // For the plan paragraph: "NCCL (2 links, each FIFO on its own stream)", or "staged MPI
  // (pinned host buffers; <why NCCL is not used>)".
  std::string describe_p2p() const;
  ~DeviceComm();

 private:
  DeviceComm() = default;
  MPI_Comm comm_ = MPI_COMM_NULL;  // borrowed from ProcessGroups
  Path path_ = Path::kAlone;
  NcclGroup nccl_;
  PinnedStaging* staging_ = nullptr;
  StagedP2p* p2p_ = nullptr;  // owned by GpuCollectives
  std::string fallback_reason_;  // why NCCL was not used, when it was wanted
  std::unique_ptr<PipelineLinks> links_;  // the pipeline group's NCCL links (nullptr: MPI p2p)
  std::string tag_reason_;                // why p2p is matched by tag although links exist
};

// The device side of the process groups of one rank: one DeviceComm per group, all sharing
// one pinned staging buffer. ProcessGroups attaches every group at start-up, in the same order
// on every rank (each attach is collective).
class GpuCollectives {
 public:
  // Binds `cuda_device` to this thread; the staging path is direct when mpi_is_cuda_aware().
  static Result<std::unique_ptr<GpuCollectives>> create(int cuda_device);

  // A process group's device side; owned here.
  Result<DeviceComm*> attach(MPI_Comm comm, DeviceBackend backend = DeviceBackend::kAuto);

  int device() const { return device_; }
  PinnedStaging& staging() { return *staging_; }

 private:
  GpuCollectives() = default;
  int device_ = 0;
  std::unique_ptr<PinnedStaging> staging_;
  std::unique_ptr<StagedP2p> p2p_;
  std::vector<std::unique_ptr<DeviceComm>> unnamed_;
};

}  // namespace llmrt
