// SelfCollectives: the collectives of a group of one.
#include "device/collectives.h"

#if LLMRT_HAVE_CUDA
#include "device/cuda_device.h"
#endif

namespace llmrt {

Status SelfCollectives::copy(const void* send, void* recv, std::size_t count, std::int32_t dtype,
                             llmrt_stream* stream) {
  const std::size_t element = dtype_size(dtype);
  if (element == 0) return input_error("collective on unknown dtype {}", dtype);
  if (send == recv || count == 0) return Status::success();
#if LLMRT_HAVE_CUDA
  // On the caller's stream: on the legacy default stream the copy would not be ordered after
  // the kernels of a non-blocking stream that produced `send`.
  if (!device_.is_host()) return copy_on_cuda_stream(recv, send, count * element, stream);
#endif
  return device_.copy(recv, send, count * element, device_.is_host() ? CopyKind::kHostToHost : CopyKind::kDeviceToDevice,
                      nullptr);
}

Status SelfCollectives::all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t,
                                   llmrt_stream* stream) {
  return copy(send, recv, count, dtype, stream);
}

Status SelfCollectives::all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                                   llmrt_stream* stream) {
  return copy(send, recv, send_count, dtype, stream);
}

Status SelfCollectives::reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype,
                                       std::int32_t, llmrt_stream* stream) {
  return copy(send, recv, recv_count, dtype, stream);
}

Status SelfCollectives::broadcast(void*, std::size_t, std::int32_t, int root, llmrt_stream*) {
  if (root != 0) return input_error("broadcast from root {} in a group of one", root);
  return Status::success();
}

Result<RequestPtr> SelfCollectives::start_all_reduce(void*, std::size_t count, std::int32_t dtype, std::int32_t,
                                                     llmrt_stream*) {
  if (dtype_size(dtype) == 0) return input_error("all-reduce of {} elements of unknown dtype {}", count, dtype);
  return RequestPtr();  // in place over one rank: already done
}

Result<RequestPtr> SelfCollectives::start_send(const void*, std::size_t count, std::int32_t, int peer, int,
                                               llmrt_stream*) {
  return runtime_error("send of {} elements to rank {} of a group of one", count, peer);
}

Result<RequestPtr> SelfCollectives::start_recv(void*, std::size_t count, std::int32_t, int peer, int, llmrt_stream*) {
  return runtime_error("receive of {} elements from rank {} of a group of one", count, peer);
}

}  // namespace llmrt
