#include "exec/p2p_transport.h"

namespace llmrt {

Status P2pTransport::send(std::vector<float> payload, int peer, int tag) {
  PendingSend& pending = sends_.emplace_back();
  pending.buffer = std::move(payload);
  if (MPI_Isend(pending.buffer.data(), static_cast<int>(pending.buffer.size()), MPI_FLOAT, peer, tag, comm_,
                &pending.request) != MPI_SUCCESS) {
    return runtime_error("MPI_Isend of {} floats to pipeline rank {} failed", pending.buffer.size(), peer);
  }
  return reap_sends(false);
}

Status P2pTransport::post_receive(std::size_t key, float* buffer, std::size_t count, int peer, int tag) {
  MPI_Request& request = receives_[key];
  if (MPI_Irecv(buffer, static_cast<int>(count), MPI_FLOAT, peer, tag, comm_, &request) != MPI_SUCCESS) {
    return runtime_error("MPI_Irecv of {} floats from pipeline rank {} failed", count, peer);
  }
  return Status::success();
}

Status P2pTransport::wait_receive(std::size_t key) {
  auto pending = receives_.find(key);
  LLMRT_RETURN_IF_ERROR(progress_.wait(pending->second));
  receives_.erase(pending);
  return Status::success();
}

Status P2pTransport::reap_sends(bool wait) {
  for (auto it = sends_.begin(); it != sends_.end();) {
    int done = 0;
    if (wait) {
      LLMRT_RETURN_IF_ERROR(progress_.wait(it->request));
      done = 1;
    } else {
      MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
    }
    if (done) {
      spares_.push_back(std::move(it->buffer));
      it = sends_.erase(it);
    } else {
      ++it;
    }
  }
  return Status::success();
}

std::vector<float> P2pTransport::spare_buffer() {
  if (spares_.empty()) return {};
  std::vector<float> spare = std::move(spares_.back());
  spares_.pop_back();
  return spare;
}

}  // namespace llmrt
