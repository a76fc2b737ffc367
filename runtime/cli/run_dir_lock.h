// One run per run_dir: rank 0 holds an flock on run_dir/run.lock for the whole run, and the
// file names the holder ("pid 4242 on host gpu01"). A second run there is refused before it
// writes anything, naming that holder; the kernel drops the lock when its process dies, so a
// lock left by a crashed run is simply taken over.
#pragma once

#include <string>

#include "util/status.h"

namespace llmrt {

class RunDirLock {
 public:
  // Creates run_dir when missing. An input error (exit 2) when another process holds the lock.
  static Result<RunDirLock> acquire(const std::string& run_dir);
  RunDirLock() = default;  // holds nothing (no run_dir, or not rank 0)
  RunDirLock(RunDirLock&& other) noexcept;
  RunDirLock& operator=(RunDirLock&& other) noexcept;
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;
  ~RunDirLock();  // releases the lock (the file stays: removing it would race a waiting run)

  bool held() const { return fd_ >= 0; }

 private:
  explicit RunDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace llmrt
