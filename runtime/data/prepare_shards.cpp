// `llmrt data prepare IN OUT`: a text file as byte tokens in two llm.c shards. The input must be
// a regular file of at most 2^31 − 1 bytes (a FIFO or /dev/zero would never end, and a shard's
// header counts its tokens in 32 bits); the outputs appear whole or not at all.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "data/token_shards.h"
#include "util/file_checks.h"

namespace llmrt {
namespace {

constexpr std::int64_t kMaxPrepareBytes = 2147483647;  // one shard's header counts at most this many tokens

// The whole of a regular file, checked to be one (and not too large) before a byte is read.
Result<std::string> read_text_file(const std::string& path) {
  LLMRT_RETURN_IF_ERROR(check_regular_file(path, "a text file"));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return input_error("{}: cannot open the text file: {}", path, std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || non_regular_kind(info.st_mode) != nullptr || info.st_size > kMaxPrepareBytes) {
    const std::int64_t size = info.st_size;
    ::close(fd);
    return input_error("{}: {} bytes; data prepare takes a regular file of at most {} bytes (a shard counts its "
                       "tokens in 32 bits): split it first",
                       path, size, kMaxPrepareBytes);
  }
  std::string text(static_cast<std::size_t>(info.st_size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "the file shrank while read";
      ::close(fd);
      return input_error("{}: cannot read the text file: {}", path, why);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return text;
}

}  // namespace

Result<std::vector<std::string>> prepare_byte_shards(const std::string& input_path, const std::string& output_prefix) {
  LLMRT_ASSIGN_OR_RETURN(const std::string text, read_text_file(input_path));
  if (text.size() < 2) return input_error("{}: needs at least 2 bytes of text", input_path);
  const std::filesystem::path parent = std::filesystem::path(output_prefix).parent_path();
  LLMRT_RETURN_IF_ERROR(prepare_output_dir(parent.empty() ? "." : parent.string(),
                                           fmt::format("data prepare {}", output_prefix)));
  std::vector<std::uint16_t> tokens(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) tokens[i] = static_cast<unsigned char>(text[i]);
  const std::size_t split = tokens.size() * 9 / 10;
  std::vector<std::string> written = {output_prefix + "_train.bin", output_prefix + "_val.bin"};
  LLMRT_RETURN_IF_ERROR(write_token_shard(written[0], std::span(tokens).first(split)));
  if (Status val = write_token_shard(written[1], std::span(tokens).subspan(split)); !val.ok()) {
    std::error_code ignored;  // the write's error is the one to report
    std::filesystem::remove(written[0], ignored);  // both shards or neither
    return val.error();
  }
  return written;
}

}  // namespace llmrt
