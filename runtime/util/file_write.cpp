#include "util/file_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace llmrt {

Status write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return runtime_error("{}: cannot write: {}", path, std::strerror(errno));
    if (n == 0) return runtime_error("{}: cannot write: the device took no bytes", path);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::success();
}

Status write_file_replacing(const std::string& path, std::span<const std::string_view> parts) {
  // This process's own temporary name: never another writer's, nor a user's file called PATH.tmp.
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return runtime_error("{}: cannot create: {}", temporary, std::strerror(errno));
  Status written = Status::success();
  for (std::size_t i = 0; i < parts.size() && written.ok(); ++i) written = write_all(fd, parts[i], path);
  // On the disk before the rename publishes it: after a power loss the name holds the old or the new file.
  if (written.ok() && ::fsync(fd) != 0) written = runtime_error("{}: cannot write: {}", path, std::strerror(errno));
  if (::close(fd) != 0 && written.ok()) written = runtime_error("{}: cannot write: {}", path, std::strerror(errno));
  if (written.ok() && ::rename(temporary.c_str(), path.c_str()) != 0) {
    written = runtime_error("{}: cannot rename {} into place: {}", path, temporary, std::strerror(errno));
  }
  if (!written.ok()) ::unlink(temporary.c_str());
  return written;
}

Status write_file_replacing(const std::string& path, std::string_view text) {
  return write_file_replacing(path, std::span<const std::string_view>(&text, 1));
}

Result<LineFile> LineFile::create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return runtime_error("{}: cannot create: {}", path, std::strerror(errno));
  return LineFile(fd, path);
}

LineFile::LineFile(LineFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), size_(other.size_) {}

LineFile& LineFile::operator=(LineFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    size_ = other.size_;
  }
  return *this;
}

LineFile::~LineFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status LineFile::close() {
  const int fd = std::exchange(fd_, -1);
  // NFS and quota file systems may report a write's failure only here.
  if (fd >= 0 && ::close(fd) != 0) return runtime_error("{}: cannot write: {}", path_, std::strerror(errno));
  return Status::success();
}

Status LineFile::append_line(std::string_view line) {
  std::string whole(line);
  whole += '\n';
  Status written = write_all(fd_, whole, path_);
  if (!written.ok()) {
    // Cut back to the last whole line: a reader never sees half a record.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 || ::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0) {
      return runtime_error("{}; and cannot cut it back to its whole lines: {}", written.error().message(),
                           std::strerror(errno));
    }
    return written;
  }
  size_ += static_cast<long long>(whole.size());
  return Status::success();
}

}  // namespace llmrt
