// The bookkeeping behind a GPU device's deferred frees: which blocks the device holds, which of
// them were freed by the executor but not yet given back to the driver, and how many were ever
// deferred and released. Plain C++ (no CUDA) so the CPU tests hold it to its rules; CudaDevice
// (cuda_device.cpp) owns one and does the releasing.
//
// Why frees wait: cudaFree waits for the whole device. A rank blocked in it mid-step cannot
// queue the NCCL send its pipeline peer's queued receive waits for, while its own queued receive
// waits for that peer: a deadlock. So a free only records the block here; the blocks are given
// back at a point where the host already waits for the device and every peer has queued its
// matching work (the step's end, teardown), the way PyTorch's caching allocator frees lazily.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace llmrt {

// What a device holds, in bytes and blocks. A deferred block is still held: it counts in
// held_bytes until it is released, so memory figures never undercount.
struct DeviceMemoryCounts {
  std::size_t held_bytes = 0;       // allocated, whether in use or waiting for release
  std::size_t pending_bytes = 0;    // freed by the executor, waiting for the safe point
  std::size_t pending_blocks = 0;
  std::uint64_t deferred_total = 0;  // blocks ever deferred (each free of a held block)
  std::uint64_t released_total = 0;  // blocks ever given back to the driver
};

class DeferredFrees {
 public:
  // A block the device allocated (bytes as asked for).
  void allocated(void* pointer, std::size_t bytes);
  // The executor freed `pointer`: it waits for take_pending(). A pointer this ledger never saw
  // (or saw freed already) is refused with false, and nothing is recorded: a double free must
  // not become a double cudaFree.
  bool defer(void* pointer);
  // The blocks waiting for release, oldest first; the ledger forgets them (the caller releases
  // each, then reports the count to released()).
  std::vector<void*> take_pending();
  void released(std::size_t blocks);
  DeviceMemoryCounts counts() const;

 private:
  mutable std::mutex mutex_;  // frees come from any host thread that drops a Buffer
  std::map<void*, std::size_t> held_;  // pointer -> bytes, live or pending
  std::vector<void*> pending_;
  std::size_t held_bytes_ = 0, pending_bytes_ = 0;
  std::uint64_t deferred_total_ = 0, released_total_ = 0;
};

}  // namespace llmrt
