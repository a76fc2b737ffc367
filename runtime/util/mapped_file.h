// A whole file mapped read-only (MAP_PRIVATE), unmapped when the object goes: the pages are
// the kernel's page cache, read on first touch, so a large token shard costs no copy.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "util/status.h"

namespace llmrt {

class MappedFile {
 public:
  // An input error naming the file when it cannot be opened, sized or mapped.
  static Result<MappedFile> open(const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::string& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }

 private:
  MappedFile() = default;
  void unmap();
  std::string path_;
  const std::byte* data_ = nullptr;  // null for an empty file
  std::size_t size_ = 0;
};

}  // namespace llmrt
