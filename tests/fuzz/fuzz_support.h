// What every fuzz target shares: a scratch folder for the files it writes, the split of one
// input into several files, and the contract each target checks — bad input comes back as an
// input error (the CLI's exit 2) with a message, never as anything else. A broken contract is
// a finding: abort(), which libFuzzer (and the replay driver, fuzz_replay.cpp) reports.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>

#include "util/status.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace llmrt::fuzz {

// A folder of this process under $TMPDIR, removed when the process exits normally.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "llmrt-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("llmrt fuzz: mkdtemp");
      std::abort();
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline const std::filesystem::path& scratch_dir() {
  static const ScratchDir dir;
  return dir.path();
}

// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_file(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::perror("llmrt fuzz: writing a scratch file");
    std::abort();
  }
  return path.string();
}

// The text before the first `separator` and the text after it ("" when there is none).
inline std::pair<std::string_view, std::string_view> split_once(std::string_view text, std::string_view separator) {
  const std::size_t at = text.find(separator);
  if (at == std::string_view::npos) return {text, {}};
  return {text.substr(0, at), text.substr(at + separator.size())};
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The contract: a refusal is an input error with a message.
inline void expect_input_error(const Error& error, const char* call) {
  if (error.kind() != ErrorKind::kInput || error.message().empty()) {
    std::fprintf(stderr, "llmrt fuzz: %s refused with exit code %d, expected an input error (2): %s\n", call,
                 error.exit_code(), error.message().c_str());
    std::abort();
  }
}

template <typename R>
void expect_ok_or_input_error(const R& result, const char* call) {
  if (!result.ok()) expect_input_error(result.error(), call);
}

}  // namespace llmrt::fuzz
