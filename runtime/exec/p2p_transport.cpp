#include "exec/p2p_transport.h"

namespace llmrt {

Status P2pTransport::send(Buffer payload, int peer, int tag) {
  PendingSend& pending = sends_.emplace_back();
  pending.buffer = std::move(payload);
  LLMRT_ASSIGN_OR_RETURN_CTX(pending.request, comm_.start_send(pending.buffer, peer, tag, stream_),
                             "sending {} elements to pipeline rank {}", pending.buffer.count(), peer);
  return reap_sends(false);
}

Status P2pTransport::post_receive(std::size_t key, Buffer& buffer, int peer, int tag) {
  LLMRT_ASSIGN_OR_RETURN_CTX(receives_[key], comm_.start_recv(buffer, peer, tag, stream_),
                             "receiving {} elements from pipeline rank {}", buffer.count(), peer);
  return Status::success();
}

Status P2pTransport::wait_receive(std::size_t key) {
  auto pending = receives_.find(key);
  if (pending->second != nullptr && pending->second->stream_ordered()) {
    LLMRT_RETURN_IF_ERROR(pending->second->order_before(stream_));
    landed_.push_back(std::move(pending->second));
  } else {
    LLMRT_RETURN_IF_ERROR(progress_.wait(pending->second));
  }
  receives_.erase(pending);
  return Status::success();
}

Status P2pTransport::reap_sends(bool wait) {
  for (auto it = landed_.begin(); it != landed_.end();) {
    bool done = true;
    if (wait) {
      LLMRT_RETURN_IF_ERROR(progress_.wait(*it));
    } else {
      LLMRT_ASSIGN_OR_RETURN(done, (*it)->test());
    }
    it = done ? landed_.erase(it) : it + 1;
  }
  for (auto it = sends_.begin(); it != sends_.end();) {
    bool done = it->request == nullptr;
    if (!done && wait) {
      LLMRT_RETURN_IF_ERROR(progress_.wait(it->request));
      done = true;
    } else if (!done) {
      LLMRT_ASSIGN_OR_RETURN(done, it->request->test());
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

Buffer P2pTransport::spare_buffer() {
  if (spares_.empty()) return {};
  Buffer spare = std::move(spares_.back());
  spares_.pop_back();
  return spare;
}

}  // namespace llmrt
