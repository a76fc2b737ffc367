#include "cli/run_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "device/host_devices.h"
#include "util/file_checks.h"
#include "util/file_write.h"

namespace llmrt {
namespace {

constexpr const char* kLockName = "run.lock";

// What the holder wrote ("pid 4242 on host gpu01"), or a note that it wrote nothing yet.
std::string read_holder(int fd) {
  char text[256] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  std::string holder(text, n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
  return holder.empty() ? "a process that has not written its name yet" : holder;
}

}  // namespace

Result<RunDirLock> RunDirLock::acquire(const std::string& run_dir) {
  LLMRT_RETURN_IF_ERROR(prepare_output_dir(run_dir, "metrics.run_dir"));
  const std::string path = run_dir + "/" + kLockName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return input_error("metrics.run_dir: cannot create the lock {}: {}", path, std::strerror(errno));
  RunDirLock lock(fd);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      return input_error("metrics.run_dir = \"{}\" is in use by another llmrt run ({}, holding {}): wait for it to "
                         "end, or give this run another metrics.run_dir",
                         run_dir, read_holder(fd), path);
    }
    if (errno == ENOSYS || errno == ENOLCK || errno == EOPNOTSUPP) {
      // Lustre without -o flock, some NFS and FUSE mounts: a run there must still run.
      fmt::print(stderr, "llmrt: warning: metrics.run_dir: {} cannot be locked on this file system ({}): a second "
                 "run started in the same run_dir would not be refused\n", path, std::strerror(errno));
      break;
    }
    return input_error("metrics.run_dir: cannot lock {}: {}", path, std::strerror(errno));
  }
  // Ours now (a dead holder's lock went with its process): say who holds it.
  const std::string holder = fmt::format("pid {} on host {}\n", ::getpid(), this_host_name());
  if (::ftruncate(fd, 0) != 0) return runtime_error("{}: cannot write: {}", path, std::strerror(errno));
  if (::lseek(fd, 0, SEEK_SET) < 0) return runtime_error("{}: cannot write: {}", path, std::strerror(errno));
  LLMRT_RETURN_IF_ERROR(write_all(fd, holder, path));
  return lock;
}

RunDirLock::RunDirLock(RunDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RunDirLock& RunDirLock::operator=(RunDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace llmrt
