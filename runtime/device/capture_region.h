// The step's capture region (train.cuda_graph, exec/step_graph.h) as this thread sees it. While
// a CaptureRegion lives, the devices refuse what a CUDA graph cannot hold: an allocation, a
// stream synchronisation or a reduction read back to the host (sum_of_squares) returns an error
// naming it, and a free (which cannot return one) is remembered and reported when the region
// ends. On CUDA most of these would fail the capture anyway; on the CPU, which has nothing to
// capture, this audit is what makes a rehearsal of a graph run fail where the GPU would.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace llmrt {

class CaptureRegion {
 public:
  CaptureRegion();   // this thread enters the region (regions do not nest)
  ~CaptureRegion();  // and leaves it
  CaptureRegion(const CaptureRegion&) = delete;
  CaptureRegion& operator=(const CaptureRegion&) = delete;

  static bool active();  // whether this thread is inside a region
  // Success outside a region; inside, an error: "<what> inside the step's CUDA graph capture
  // region (...)".
  static Status refuse(std::string_view what);
  // Inside a region, remembers the first such call (for calls that cannot fail: free).
  static void note(std::string_view what) noexcept;
  // The first call noted in this region, if any.
  std::optional<std::string> noted() const;
};

}  // namespace llmrt
