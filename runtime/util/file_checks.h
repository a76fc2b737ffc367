// What a path is before llmrt reads or writes it: inputs must be regular files (a FIFO would
// block, a device never end), outputs must land in a folder llmrt can write. Errors name the
// path and carry the OS reason ("Not a directory", "Read-only file system", "Permission denied").
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "util/status.h"

namespace llmrt {

// "a directory", "a FIFO", "a device", "a socket", "not a regular file"; nullptr for a regular file.
const char* non_regular_kind(mode_t mode);

// An input error unless `path` is a regular file: "PATH: expected WHAT, found a FIFO".
Status check_regular_file(const std::string& path, std::string_view what);

// Creates `dir` (and its parents) when missing and checks that files can be made in it; an
// input error names `what` (e.g. "metrics.run_dir"), the folder and the OS reason.
Status prepare_output_dir(const std::string& dir, std::string_view what);

// `path` will be written later: its folder is prepared (above) and `path` is not a folder.
Status check_output_file(const std::string& path, std::string_view what);

}  // namespace llmrt
