#include "util/file_checks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace llmrt {
namespace fs = std::filesystem;

const char* non_regular_kind(mode_t mode) {
  if (S_ISREG(mode)) return nullptr;
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

Status check_regular_file(const std::string& path, std::string_view what) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return input_error("{}: cannot open {}: {}", path, what, std::strerror(errno));
  if (const char* kind = non_regular_kind(info.st_mode)) {
    return input_error("{}: expected {} (a regular file), found {}", path, what, kind);
  }
  return Status::success();
}

Status prepare_output_dir(const std::string& dir, std::string_view what) {
  std::error_code error;
  if (fs::exists(dir, error) && !fs::is_directory(dir, error)) {
    return input_error("{}: \"{}\" is a file, not a folder", what, dir);
  }
  fs::create_directories(dir, error);
  if (error) return input_error("{}: cannot create the folder \"{}\": {}", what, dir, error.message());
  // access() answers for this process's credentials and the mount (EROFS on a read-only one).
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return input_error("{}: cannot write in the folder \"{}\": {}", what, dir, std::strerror(errno));
  }
  return Status::success();
}

Status check_output_file(const std::string& path, std::string_view what) {
  const fs::path parent = fs::path(path).parent_path();
  LLMRT_RETURN_IF_ERROR(prepare_output_dir(parent.empty() ? "." : parent.string(), what));
  std::error_code error;
  if (fs::is_directory(path, error)) return input_error("{}: \"{}\" is a folder, not a file", what, path);
  return Status::success();
}

}  // namespace llmrt
