// PipelineLinks: a communicator, a stream and an event per directed pipeline link.
#include "comm/pipeline_links.h"

#include <fmt/format.h>

namespace llmrt {

// One directed link as seen from one of its two ends. Destroyed in reverse: NCCL before the
// MPI communicator its id travelled on.
struct PipelineLinks::Link {
  MPI_Comm comm = MPI_COMM_NULL;
  NcclGroup nccl;
  cudaStream_t stream = nullptr;  // the link's own queue on this rank
  cudaEvent_t ready = nullptr;    // recorded on the caller's stream: the transfer starts after it
  ~Link() {
    nccl = NcclGroup();
    if (ready != nullptr) cudaEventDestroy(ready);
    if (stream != nullptr) cudaStreamDestroy(stream);
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
  }
};

namespace {

// An NCCL transfer in flight: done when the event recorded after it on the link's stream is.
class LinkRequest final : public CommRequest {
 public:
  LinkRequest(PipelineLinks& owner, cudaEvent_t done) : owner_(owner), done_(done) {}
  ~LinkRequest() override { owner_.give_back(done_); }
  Result<bool> test() override {
    const cudaError_t err = cudaEventQuery(done_);
    if (err == cudaErrorNotReady) return false;
    LLMRT_RETURN_IF_ERROR(check_cuda(err, "pipeline p2p: cudaEventQuery"));
    return true;
  }
  Status wait() override { return check_cuda(cudaEventSynchronize(done_), "pipeline p2p: cudaEventSynchronize"); }
  bool stream_ordered() const override { return true; }
  Status order_before(llmrt_stream* stream) override {
    return check_cuda(cudaStreamWaitEvent(cuda_stream_of(stream), done_, 0), "pipeline p2p: cudaStreamWaitEvent");
  }

 private:
  PipelineLinks& owner_;
  cudaEvent_t done_;
};

}  // namespace

Result<std::unique_ptr<PipelineLinks>> PipelineLinks::create(MPI_Comm pipeline, int cuda_device) {
  std::unique_ptr<PipelineLinks> links(new PipelineLinks());
  int size = 1;
  MPI_Comm_rank(pipeline, &links->rank_);
  MPI_Comm_size(pipeline, &size);
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaSetDevice(cuda_device), fmt::format("cudaSetDevice({})", cuda_device)));
  // NCCL connects a communicator's send/recv channels lazily, inside the ncclGroupEnd of its first
  // p2p call, and that blocks the host until the peer makes its own first call on the same
  // communicator. The executor posts receives ahead, so a rank's first call on one link can come
  // before its first call on another, and two ranks would each wait in a different link's
  // connection (1F1B, pp = 2: rank 0's first is the early receive on 1 → 0, rank 1's the
  // receive on 0 → 1). One element over each link here, while both ends are at it, connects them.
  struct DeviceScratch {
    void* data = nullptr;
    ~DeviceScratch() {
      if (data != nullptr) cudaFree(data);
    }
  } warm_up;
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaMalloc(&warm_up.data, sizeof(float)), "cudaMalloc (pipeline link warm-up)"));
  for (const auto& [sender, receiver] : pipeline_link_pairs(size)) {
    const bool member = links->rank_ == sender || links->rank_ == receiver;
    auto link = std::make_unique<Link>();
    // Collective over the pipeline group (every member calls it, in this order); the sender is rank 0.
    LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Comm_split(pipeline, member ? 0 : MPI_UNDEFINED,
                                                   links->rank_ == sender ? 0 : 1, &link->comm),
                                    fmt::format("MPI_Comm_split for pipeline link {} → {}", sender, receiver)));
    if (!member) continue;
    LLMRT_ASSIGN_OR_RETURN_CTX(link->nccl, NcclGroup::create(link->comm, cuda_device),
                               "the NCCL communicator of pipeline link {} → {}", sender, receiver);
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamCreateWithFlags(&link->stream, cudaStreamNonBlocking),
                                     "cudaStreamCreateWithFlags (pipeline link)"));
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaEventCreateWithFlags(&link->ready, cudaEventDisableTiming),
                                     "cudaEventCreate (pipeline link)"));
    const bool sends = links->rank_ == sender;
    const DeviceP2p warm{sends ? DeviceP2p::Kind::kSend : DeviceP2p::Kind::kRecv, sends ? 1 : 0, warm_up.data, 1,
                         LLMRT_DTYPE_F32};
    LLMRT_RETURN_IF_ERROR_CTX(link->nccl.exchange(std::span<const DeviceP2p>(&warm, 1), link->stream),
                              "connecting pipeline link {} → {}", sender, receiver);
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(link->stream), "cudaStreamSynchronize (pipeline link)"));
    links->links_[{sender, receiver}] = std::move(link);
  }
  return links;
}

PipelineLinks::~PipelineLinks() {
  links_.clear();
  for (cudaEvent_t event : events_) cudaEventDestroy(event);
}

Result<cudaEvent_t> PipelineLinks::take_event() {
  if (!events_.empty()) {
    cudaEvent_t event = events_.back();
    events_.pop_back();
    return event;
  }
  cudaEvent_t event = nullptr;
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
                                   "cudaEventCreate (pipeline p2p)"));
  return event;
}

// after → link stream → NCCL → done event. `ready` is re-recorded per transfer: a wait
// captures the record current at the call, so reuse is safe.
Result<RequestPtr> PipelineLinks::start(Link& link, const DeviceP2p& op, cudaStream_t after) {
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaEventRecord(link.ready, after), "pipeline p2p: cudaEventRecord"));
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamWaitEvent(link.stream, link.ready, 0), "pipeline p2p: cudaStreamWaitEvent"));
  LLMRT_RETURN_IF_ERROR(link.nccl.exchange(std::span<const DeviceP2p>(&op, 1), link.stream));
  LLMRT_ASSIGN_OR_RETURN(cudaEvent_t done, take_event());
  auto request = std::make_unique<LinkRequest>(*this, done);  // owns `done` from here on
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaEventRecord(done, link.stream), "pipeline p2p: cudaEventRecord"));
  return RequestPtr(std::move(request));
}

Result<RequestPtr> PipelineLinks::start_send(const void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                             cudaStream_t after) {
  auto link = links_.find({rank_, peer});
  if (link == links_.end()) return runtime_error("pipeline p2p: no NCCL link from pipeline rank {} to {}", rank_, peer);
  // Within the link's communicator the receiver is rank 1.
  return start(*link->second, DeviceP2p{DeviceP2p::Kind::kSend, 1, const_cast<void*>(buffer), count, dtype}, after);
}

Result<RequestPtr> PipelineLinks::start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                             cudaStream_t after) {
  auto link = links_.find({peer, rank_});
  if (link == links_.end()) return runtime_error("pipeline p2p: no NCCL link from pipeline rank {} to {}", peer, rank_);
  return start(*link->second, DeviceP2p{DeviceP2p::Kind::kRecv, 0, buffer, count, dtype}, after);
}

}  // namespace llmrt
