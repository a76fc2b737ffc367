#include "comm/staged_p2p.h"

#include <fmt/format.h>

namespace llmrt {
namespace {

// One message in flight. A receive's bytes land in `pinned` and are uploaded to `device` on
// completion; a send's pinned copy is held until MPI is done with it.
class StagedRequest final : public CommRequest {
 public:
  StagedRequest(StagedP2p& owner, PinnedBuffer pinned, void* device, std::size_t bytes, cudaStream_t stream)
      : owner_(owner), pinned_(std::move(pinned)), device_(device), bytes_(bytes), stream_(stream) {}
  ~StagedRequest() override {
    // An abandoned request (a failed step) must not leave MPI writing into freed memory.
    if (request_ != MPI_REQUEST_NULL) {
      MPI_Cancel(&request_);
      MPI_Request_free(&request_);
    }
  }
  MPI_Request& get() { return request_; }

  Result<bool> test() override {
    if (finished_) return true;
    int done = 0;
    LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "MPI_Test (staged p2p)"));
    if (done == 0) return false;
    LLMRT_RETURN_IF_ERROR(finish());
    return true;
  }
  Status wait() override {
    if (finished_) return Status::success();
    LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait (staged p2p)"));
    return finish();
  }

 private:
  Status finish() {
    finished_ = true;
    if (device_ != nullptr && pinned_.data() != nullptr) {  // a staged receive: upload, then the pinned copy is free
      LLMRT_RETURN_IF_ERROR(check_cuda(cudaMemcpyAsync(device_, pinned_.data(), bytes_, cudaMemcpyHostToDevice, stream_),
                                       "staged p2p: host→device"));
      LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream_), "staged p2p: cudaStreamSynchronize"));
    }
    if (pinned_.data() != nullptr) owner_.give_back(std::move(pinned_));
    return Status::success();
  }

  StagedP2p& owner_;
  PinnedBuffer pinned_;
  void* device_;        // a receive's destination; nullptr for a send
  std::size_t bytes_;
  cudaStream_t stream_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool finished_ = false;
};

}  // namespace

Result<PinnedBuffer> StagedP2p::take_pinned(std::size_t bytes) {
  PinnedBuffer buffer;
  if (!pool_.empty()) {
    buffer = std::move(pool_.back());
    pool_.pop_back();
  }
  LLMRT_RETURN_IF_ERROR(buffer.reserve(bytes));
  return buffer;
}

Result<RequestPtr> StagedP2p::start_send(MPI_Comm comm, const void* buffer, std::size_t count, std::int32_t dtype,
                                         int peer, int tag, cudaStream_t stream) {
  LLMRT_ASSIGN_OR_RETURN(const int bytes, mpi_bytes(count, dtype, fmt::format("send to pipeline rank {}", peer)));
  PinnedBuffer pinned;
  const void* source = buffer;
  if (direct_) {
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "staged p2p send: cudaStreamSynchronize"));
  } else {
    LLMRT_ASSIGN_OR_RETURN(pinned, take_pinned(static_cast<std::size_t>(bytes)));
    LLMRT_RETURN_IF_ERROR(check_cuda(
        cudaMemcpyAsync(pinned.data(), buffer, static_cast<std::size_t>(bytes), cudaMemcpyDeviceToHost, stream),
        "staged p2p: device→host"));
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "staged p2p send: cudaStreamSynchronize"));
    source = pinned.data();
  }
  auto request = std::make_unique<StagedRequest>(*this, std::move(pinned), nullptr, static_cast<std::size_t>(bytes),
                                                 stream);
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Isend(source, bytes, MPI_BYTE, peer, tag, comm, &request->get()),
                                  fmt::format("MPI_Isend of {} bytes to pipeline rank {}", bytes, peer)));
  return RequestPtr(std::move(request));
}

Result<RequestPtr> StagedP2p::start_recv(MPI_Comm comm, void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                         int tag, cudaStream_t stream) {
  LLMRT_ASSIGN_OR_RETURN(const int bytes, mpi_bytes(count, dtype, fmt::format("receive from pipeline rank {}", peer)));
  PinnedBuffer pinned;
  void* target = buffer;
  if (!direct_) {
    LLMRT_ASSIGN_OR_RETURN(pinned, take_pinned(static_cast<std::size_t>(bytes)));
    target = pinned.data();
  } else {
    // MPI writes the device buffer itself: nothing queued on the stream may still read it.
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "staged p2p recv: cudaStreamSynchronize"));
  }
  auto request = std::make_unique<StagedRequest>(*this, std::move(pinned), direct_ ? nullptr : buffer,
                                                 static_cast<std::size_t>(bytes), stream);
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Irecv(target, bytes, MPI_BYTE, peer, tag, comm, &request->get()),
                                  fmt::format("MPI_Irecv of {} bytes from pipeline rank {}", bytes, peer)));
  return RequestPtr(std::move(request));
}

}  // namespace llmrt
