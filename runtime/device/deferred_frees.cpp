// DeferredFrees: the held and pending blocks of a device whose frees wait for a safe point.
#include "device/deferred_frees.h"

#include <utility>

namespace llmrt {

void DeferredFrees::allocated(void* pointer, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  held_[pointer] = bytes;
  held_bytes_ += bytes;
}

bool DeferredFrees::defer(void* pointer) {
  std::lock_guard lock(mutex_);
  const auto block = held_.find(pointer);
  if (block == held_.end()) return false;
  for (void* waiting : pending_) {
    if (waiting == pointer) return false;  // freed twice before the safe point
  }
  pending_.push_back(pointer);
  pending_bytes_ += block->second;
  ++deferred_total_;
  return true;
}

std::vector<void*> DeferredFrees::take_pending() {
  std::lock_guard lock(mutex_);
  for (void* pointer : pending_) {
    const auto block = held_.find(pointer);
    held_bytes_ -= block->second;
    pending_bytes_ -= block->second;
    held_.erase(block);
  }
  return std::exchange(pending_, {});
}

void DeferredFrees::released(std::size_t blocks) {
  std::lock_guard lock(mutex_);
  released_total_ += blocks;
}

DeviceMemoryCounts DeferredFrees::counts() const {
  std::lock_guard lock(mutex_);
  return {held_bytes_, pending_bytes_, pending_.size(), deferred_total_, released_total_};
}

}  // namespace llmrt
