#include "device/capture_region.h"

namespace llmrt {
namespace {

struct RegionState {
  bool active = false;
  std::optional<std::string> noted;
};

RegionState& region() {
  thread_local RegionState state;
  return state;
}

std::string refusal(std::string_view what) {
  return fmt::format("{} inside the step's CUDA graph capture region (a replay would not repeat it; "
                     "the layer's passes must allocate, free and synchronise nothing after their first call)",
                     what);
}

}  // namespace

CaptureRegion::CaptureRegion() {
  region().active = true;
  region().noted.reset();
}

CaptureRegion::~CaptureRegion() { region().active = false; }

bool CaptureRegion::active() { return region().active; }

Status CaptureRegion::refuse(std::string_view what) {
  if (!region().active) return Status::success();
  return runtime_error("{}", refusal(what));
}

void CaptureRegion::note(std::string_view what) noexcept {
  try {
    if (region().active && !region().noted) region().noted = refusal(what);
  } catch (...) {  // formatting failed: nothing can be reported from a free
  }
}

std::optional<std::string> CaptureRegion::noted() const { return region().noted; }

}  // namespace llmrt
