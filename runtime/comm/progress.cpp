#include "comm/progress.h"

namespace llmrt {

Status Progress::wait(MPI_Request& request) {
  if (MPI_Wait(&request, MPI_STATUS_IGNORE) != MPI_SUCCESS) return runtime_error("MPI_Wait failed");
  return Status::success();
}

Status Progress::wait_all(std::vector<MPI_Request>& requests) {
  for (MPI_Request& request : requests) LLMRT_RETURN_IF_ERROR(wait(request));
  requests.clear();
  return Status::success();
}

Status Progress::allreduce(const void* send, void* recv, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  MPI_Request request;
  if (MPI_Iallreduce(send, recv, count, type, op, comm, &request) != MPI_SUCCESS) {
    return runtime_error("MPI_Iallreduce failed");
  }
  return wait(request);
}

}  // namespace llmrt
