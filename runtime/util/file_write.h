// Checked writes: every byte written is accounted for, a failure carries the OS reason
// ("No space left on device", "File too large"), and nothing half-written is left looking whole.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "util/status.h"

namespace llmrt {

// Writes all of `bytes` to `fd` (short writes and EINTR retried); errno's reason on failure.
Status write_all(int fd, std::string_view bytes, const std::string& path);

// `path` holds `text`, or (on failure) whatever it held before: the text goes to PATH.tmp,
// which is renamed over `path` once complete and removed when not.
Status write_file_replacing(const std::string& path, std::string_view text);
// The same for a file made of `parts` written in order (no copy into one buffer). The temporary
// is PATH.tmp.PID, synced before the rename: after a crash or a power loss `path` is whole.
Status write_file_replacing(const std::string& path, std::span<const std::string_view> parts);

// A log of whole lines (metrics.jsonl): each append writes one line completely or, when the
// disk is full or the device fails, cuts the file back to the lines before it and says why.
class LineFile {
 public:
  static Result<LineFile> create(const std::string& path);  // truncates
  LineFile(LineFile&& other) noexcept;
  LineFile& operator=(LineFile&& other) noexcept;
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;
  ~LineFile();

  Status append_line(std::string_view line);  // `line` without its "\n"
  Status close();  // the close's own error (NFS, quotas report some failures only there)
  const std::string& path() const { return path_; }

 private:
  LineFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  long long size_ = 0;  // bytes of whole lines written
};

}  // namespace llmrt
