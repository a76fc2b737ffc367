// DeviceMemoryCollectives: each call goes where its buffer lives.
#include "comm/gpu_collectives.h"

namespace llmrt {

Status DeviceMemoryCollectives::all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype,
                                           std::int32_t op, llmrt_stream* stream) {
  if (!is_device_pointer(recv)) return host_.all_reduce(send, recv, count, dtype, op, stream);
  return device_.all_reduce(send, recv, count, dtype, op, cuda_stream_of(stream));
}

Status DeviceMemoryCollectives::all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                                           llmrt_stream* stream) {
  if (!is_device_pointer(recv)) return host_.all_gather(send, recv, send_count, dtype, stream);
  return device_.all_gather(send, recv, send_count, dtype, cuda_stream_of(stream));
}

Status DeviceMemoryCollectives::reduce_scatter(const void* send, void* recv, std::size_t recv_count,
                                               std::int32_t dtype, std::int32_t op, llmrt_stream* stream) {
  if (!is_device_pointer(recv)) return host_.reduce_scatter(send, recv, recv_count, dtype, op, stream);
  return device_.reduce_scatter(send, recv, recv_count, dtype, op, cuda_stream_of(stream));
}

Status DeviceMemoryCollectives::broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root,
                                          llmrt_stream* stream) {
  if (!is_device_pointer(buffer)) return host_.broadcast(buffer, count, dtype, root, stream);
  return device_.broadcast(buffer, count, dtype, root, cuda_stream_of(stream));
}

Result<RequestPtr> DeviceMemoryCollectives::start_all_reduce(void* buffer, std::size_t count, std::int32_t dtype,
                                                             std::int32_t op, llmrt_stream* stream) {
  if (!is_device_pointer(buffer)) return host_.start_all_reduce(buffer, count, dtype, op, stream);
  LLMRT_RETURN_IF_ERROR(device_.all_reduce(buffer, buffer, count, dtype, op, cuda_stream_of(stream)));
  return RequestPtr();
}

Result<RequestPtr> DeviceMemoryCollectives::start_reduce_scatter(const void* send, void* recv, std::size_t recv_count,
                                                                 std::int32_t dtype, std::int32_t op,
                                                                 llmrt_stream* stream) {
  if (!is_device_pointer(recv)) return host_.start_reduce_scatter(send, recv, recv_count, dtype, op, stream);
  LLMRT_RETURN_IF_ERROR(device_.reduce_scatter(send, recv, recv_count, dtype, op, cuda_stream_of(stream)));
  return RequestPtr();
}

Result<RequestPtr> DeviceMemoryCollectives::start_all_gather(const void* send, void* recv, std::size_t send_count,
                                                             std::int32_t dtype, llmrt_stream* stream) {
  if (!is_device_pointer(recv)) return host_.start_all_gather(send, recv, send_count, dtype, stream);
  // Enqueued on `stream` (ncclAllGather, or the staging path's blocking MPI_Allgather).
  LLMRT_RETURN_IF_ERROR(device_.all_gather(send, recv, send_count, dtype, cuda_stream_of(stream)));
  return RequestPtr();
}

// Non-blocking and matched by tag, like the host path: the executor posts receives ahead.
Result<RequestPtr> DeviceMemoryCollectives::start_send(const void* buffer, std::size_t count, std::int32_t dtype,
                                                       int peer, int tag, llmrt_stream* stream) {
  if (!is_device_pointer(buffer)) return host_.start_send(buffer, count, dtype, peer, tag, stream);
  return device_.start_send(buffer, count, dtype, peer, tag, cuda_stream_of(stream));
}

Result<RequestPtr> DeviceMemoryCollectives::start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                                       int tag, llmrt_stream* stream) {
  if (!is_device_pointer(buffer)) return host_.start_recv(buffer, count, dtype, peer, tag, stream);
  return device_.start_recv(buffer, count, dtype, peer, tag, cuda_stream_of(stream));
}

}  // namespace llmrt
