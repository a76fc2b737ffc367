// MpiCollectives: each call is the matching MPI call on the group's communicator.
#include "comm/mpi_collectives.h"

#include <climits>

namespace llmrt {
namespace {

// MPI counts are int: a larger buffer must be split by the caller (none is, today).
Result<int> mpi_count(std::size_t count, std::int32_t dtype, const char* what) {
  if (count > static_cast<std::size_t>(INT_MAX)) return runtime_error("{} of {} elements: above MPI's int count", what, count);
  if (mpi_datatype(dtype) == MPI_DATATYPE_NULL) {
    return input_error("{} of {}: the MPI backend has no arithmetic on this dtype", what, dtype_name(dtype));
  }
  return static_cast<int>(count);
}

// Calls that only move data (sends, receives, broadcasts, gathers) take 16-bit floats as their
// bits: no arithmetic happens on them.
MPI_Datatype moved_datatype(std::int32_t dtype) {
  return dtype == LLMRT_DTYPE_BF16 || dtype == LLMRT_DTYPE_F16 ? MPI_UINT16_T : mpi_datatype(dtype);
}

Result<int> moved_count(std::size_t count, std::int32_t dtype, const char* what) {
  if (count > static_cast<std::size_t>(INT_MAX)) return runtime_error("{} of {} elements: above MPI's int count", what, count);
  if (moved_datatype(dtype) == MPI_DATATYPE_NULL) return input_error("{} of {}: unknown dtype", what, dtype_name(dtype));
  return static_cast<int>(count);
}

Status mpi_call(int code, const char* what, std::size_t count) {
  if (code == MPI_SUCCESS) return Status::success();
  return runtime_error("{} of {} elements failed (MPI error {})", what, count, code);
}

}  // namespace

MPI_Datatype mpi_datatype(std::int32_t dtype) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: return MPI_FLOAT;
    case kDtypeF64: return MPI_DOUBLE;
    case LLMRT_DTYPE_I32: return MPI_INT32_T;
    case LLMRT_DTYPE_I64: return MPI_INT64_T;
    case LLMRT_DTYPE_U8: return MPI_UINT8_T;
    default: return MPI_DATATYPE_NULL;  // bf16/f16 reductions need NCCL or a custom op
  }
}

MPI_Op mpi_reduce_op(std::int32_t op) {
  return op == LLMRT_REDUCE_MAX ? MPI_MAX : op == LLMRT_REDUCE_MIN ? MPI_MIN : MPI_SUM;
}

Result<bool> MpiRequest::test() {
  int done = 0;
  if (MPI_Test(&request_, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return runtime_error("MPI_Test failed");
  return done != 0;
}

Status MpiRequest::wait() {
  if (MPI_Wait(&request_, MPI_STATUS_IGNORE) != MPI_SUCCESS) return runtime_error("MPI_Wait failed");
  return Status::success();
}

MpiCollectives::MpiCollectives(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

Status MpiCollectives::all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                                  llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, mpi_count(count, dtype, "MPI_Allreduce"));
  const void* source = send == recv ? MPI_IN_PLACE : send;
  return mpi_call(MPI_Allreduce(source, recv, n, mpi_datatype(dtype), mpi_reduce_op(op), comm_), "MPI_Allreduce",
                  count);
}

Status MpiCollectives::all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                                  llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, moved_count(send_count, dtype, "MPI_Allgather"));
  const MPI_Datatype type = moved_datatype(dtype);
  const auto* own_block = static_cast<const unsigned char*>(recv) + send_count * rank_ * dtype_size(dtype);
  if (send == own_block) {  // in place: MPI forbids aliased buffers
    return mpi_call(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, n, type, comm_), "MPI_Allgather",
                    send_count);
  }
  return mpi_call(MPI_Allgather(send, n, type, recv, n, type, comm_), "MPI_Allgather", send_count);
}

Status MpiCollectives::reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype,
                                      std::int32_t op, llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, mpi_count(recv_count, dtype, "MPI_Reduce_scatter_block"));
  return mpi_call(MPI_Reduce_scatter_block(send, recv, n, mpi_datatype(dtype), mpi_reduce_op(op), comm_),
                  "MPI_Reduce_scatter_block", recv_count);
}

Status MpiCollectives::broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, moved_count(count, dtype, "MPI_Bcast"));
  return mpi_call(MPI_Bcast(buffer, n, moved_datatype(dtype), root, comm_), "MPI_Bcast", count);
}

Result<RequestPtr> MpiCollectives::start_all_reduce(void* buffer, std::size_t count, std::int32_t dtype,
                                                    std::int32_t op, llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, mpi_count(count, dtype, "MPI_Iallreduce"));
  auto request = std::make_unique<MpiRequest>();
  LLMRT_RETURN_IF_ERROR(mpi_call(MPI_Iallreduce(MPI_IN_PLACE, buffer, n, mpi_datatype(dtype), mpi_reduce_op(op),
                                                comm_, &request->get()),
                                 "MPI_Iallreduce", count));
  return RequestPtr(std::move(request));
}

Result<RequestPtr> MpiCollectives::start_reduce_scatter(const void* send, void* recv, std::size_t recv_count,
                                                        std::int32_t dtype, std::int32_t op, llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, mpi_count(recv_count, dtype, "MPI_Ireduce_scatter_block"));
  auto request = std::make_unique<MpiRequest>();
  LLMRT_RETURN_IF_ERROR(mpi_call(MPI_Ireduce_scatter_block(send, recv, n, mpi_datatype(dtype), mpi_reduce_op(op),
                                                           comm_, &request->get()),
                                 "MPI_Ireduce_scatter_block", recv_count));
  return RequestPtr(std::move(request));
}

Result<RequestPtr> MpiCollectives::start_all_gather(const void* send, void* recv, std::size_t send_count,
                                                    std::int32_t dtype, llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, moved_count(send_count, dtype, "MPI_Iallgather"));
  const MPI_Datatype type = moved_datatype(dtype);
  const auto* own_block = static_cast<const unsigned char*>(recv) + send_count * rank_ * dtype_size(dtype);
  auto request = std::make_unique<MpiRequest>();
  const bool in_place = send == own_block;  // MPI forbids aliased buffers
  LLMRT_RETURN_IF_ERROR(mpi_call(MPI_Iallgather(in_place ? MPI_IN_PLACE : send, in_place ? 0 : n,
                                                in_place ? MPI_DATATYPE_NULL : type, recv, n, type, comm_,
                                                &request->get()),
                                 "MPI_Iallgather", send_count));
  return RequestPtr(std::move(request));
}

Result<RequestPtr> MpiCollectives::start_send(const void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                              int tag, llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, moved_count(count, dtype, "MPI_Isend"));
  auto request = std::make_unique<MpiRequest>();
  LLMRT_RETURN_IF_ERROR_CTX(
      mpi_call(MPI_Isend(buffer, n, moved_datatype(dtype), peer, tag, comm_, &request->get()), "MPI_Isend", count),
      "sending to rank {} of the group", peer);
  return RequestPtr(std::move(request));
}

Result<RequestPtr> MpiCollectives::start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                              llmrt_stream*) {
  LLMRT_ASSIGN_OR_RETURN(const int n, moved_count(count, dtype, "MPI_Irecv"));
  auto request = std::make_unique<MpiRequest>();
  LLMRT_RETURN_IF_ERROR_CTX(
      mpi_call(MPI_Irecv(buffer, n, moved_datatype(dtype), peer, tag, comm_, &request->get()), "MPI_Irecv", count),
      "receiving from rank {} of the group", peer);
  return RequestPtr(std::move(request));
}

}  // namespace llmrt
