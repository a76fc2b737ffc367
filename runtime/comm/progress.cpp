#include "comm/progress.h"

namespace llmrt {

Status Progress::wait(CommRequest& request) { return request.wait(); }

Status Progress::wait(RequestPtr& request) {
  if (request == nullptr) return Status::success();
  LLMRT_RETURN_IF_ERROR(wait(*request));
  request.reset();
  return Status::success();
}

Status Progress::wait_all(std::vector<RequestPtr>& requests) {
  for (RequestPtr& request : requests) LLMRT_RETURN_IF_ERROR(wait(request));
  requests.clear();
  return Status::success();
}

Status Progress::wait(Result<RequestPtr> started) {
  LLMRT_ASSIGN_OR_RETURN(RequestPtr request, std::move(started));
  return wait(request);
}

}  // namespace llmrt
