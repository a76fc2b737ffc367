#include "data/token_shards.h"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

namespace llmrt {
namespace {

struct Shard {
  std::string path;
  std::vector<std::uint16_t> tokens;
};

Result<Shard> read_shard(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return input_error("{}: cannot open the token shard: {}", path, std::strerror(errno));
  std::int32_t header[kShardHeaderInts] = {};
  file.read(reinterpret_cast<char*>(header), sizeof header);
  if (file.gcount() != static_cast<std::streamsize>(sizeof header)) {
    return input_error("{}: truncated token shard: {} bytes, expected a {}-byte header", path, file.gcount(),
                       sizeof header);
  }
  if (header[0] != kShardMagic) {
    return input_error("{}: offset 0: not an llm.c token shard (magic {}, expected {})", path, header[0], kShardMagic);
  }
  if (header[1] != kShardVersion) {
    return input_error("{}: offset 4: token shard version {} is not supported (expected {}: uint16 tokens)", path,
                       header[1], kShardVersion);
  }
  const std::int64_t count = header[2];
  Shard shard{path, std::vector<std::uint16_t>(static_cast<std::size_t>(std::max<std::int64_t>(count, 0)))};
  file.read(reinterpret_cast<char*>(shard.tokens.data()), static_cast<std::streamsize>(shard.tokens.size() * 2));
  if (count < 0 || file.gcount() != static_cast<std::streamsize>(shard.tokens.size() * 2)) {
    return input_error("{}: truncated token shard: the header promises {} tokens ({} bytes), the file has {}", path,
                       count, sizeof header + static_cast<std::size_t>(std::max<std::int64_t>(count, 0)) * 2,
                       sizeof header + static_cast<std::size_t>(file.gcount()));
  }
  return shard;
}

class ShardSource final : public TokenSource {
 public:
  ShardSource(std::vector<std::string> paths, std::vector<std::size_t> sizes, std::int64_t vocab_size)
      : paths_(std::move(paths)), sizes_(std::move(sizes)), vocab_size_(vocab_size) {}

  Result<TokenBatch> batch_at(std::int64_t index, std::int64_t batch, std::int64_t seq) override {
    const std::size_t stride = static_cast<std::size_t>(batch * seq);
    // Batches per shard: a batch fits while position + B·T + 1 <= tokens.
    std::vector<std::size_t> counts;
    std::size_t total = 0;
    for (std::size_t size : sizes_) total += counts.emplace_back(size > stride ? (size - 1) / stride : 0);
    if (total == 0) {
      return input_error("{}: {} tokens cannot fill one microbatch of {} × {} + 1", paths_.front(), sizes_.front(),
                         batch, seq);
    }
    std::size_t local = static_cast<std::size_t>(index) % total, shard = 0;
    while (local >= counts[shard]) local -= counts[shard++];
    LLMRT_RETURN_IF_ERROR(load_shard(shard));
    return window(local * stride, stride + 1);
  }

 private:
  Status load_shard(std::size_t shard) {
    if (loaded_ == shard) return Status::success();
    LLMRT_ASSIGN_OR_RETURN(auto read, read_shard(paths_[shard]));
    shard_ = std::move(read);
    loaded_ = shard;
    return Status::success();
  }

  Result<TokenBatch> window(std::size_t position, std::size_t span) const {
    TokenBatch out;
    out.inputs.resize(span - 1);
    out.targets.resize(span - 1);
    for (std::size_t i = 0; i < span; ++i) {
      const std::uint16_t token = shard_.tokens[position + i];
      if (token >= vocab_size_) {
        return input_error("{}: token {} at byte offset {} is not below vocab_size = {}", shard_.path, token,
                           kShardHeaderInts * 4 + (position + i) * 2, vocab_size_);
      }
      if (i + 1 < span) out.inputs[i] = token;
      if (i > 0) out.targets[i - 1] = token;
    }
    return out;
  }

  std::vector<std::string> paths_;
  std::vector<std::size_t> sizes_;  // tokens per shard
  std::int64_t vocab_size_;
  Shard shard_;
  std::size_t loaded_ = static_cast<std::size_t>(-1);
};

class RandomSource final : public TokenSource {
 public:
  RandomSource(std::uint64_t seed, std::int64_t vocab_size) : seed_(seed), vocab_size_(vocab_size) {}

  Result<TokenBatch> batch_at(std::int64_t index, std::int64_t batch, std::int64_t seq) override {
    // One generator per batch: any rank can draw batch `index` without drawing the ones before.
    std::mt19937_64 generator(seed_ * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(index));
    std::uniform_int_distribution<std::int32_t> token(0, static_cast<std::int32_t>(vocab_size_ - 1));
    std::vector<std::int32_t> stream(static_cast<std::size_t>(batch * seq) + 1);
    for (auto& value : stream) value = token(generator);
    return TokenBatch{{stream.begin(), stream.end() - 1}, {stream.begin() + 1, stream.end()}};
  }

 private:
  std::uint64_t seed_;
  std::int64_t vocab_size_;
};

}  // namespace

Result<std::unique_ptr<TokenSource>> open_token_shards(const std::string& pattern, std::int64_t vocab_size) {
  glob_t matches{};
  const int status = glob(pattern.c_str(), 0, nullptr, &matches);
  std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + (status == 0 ? matches.gl_pathc : 0));
  globfree(&matches);
  if (paths.empty()) return input_error("[data].train = \"{}\": no file matches", pattern);
  std::sort(paths.begin(), paths.end());
  std::vector<std::size_t> sizes;
  for (const std::string& path : paths) {
    // Validates every shard up front: a bad one fails before step 0.
    LLMRT_ASSIGN_OR_RETURN(auto shard, read_shard(path));
    sizes.push_back(shard.tokens.size());
  }
  return std::unique_ptr<TokenSource>(std::make_unique<ShardSource>(std::move(paths), std::move(sizes), vocab_size));
}

std::unique_ptr<TokenSource> random_tokens(std::uint64_t seed, std::int64_t vocab_size) {
  return std::make_unique<RandomSource>(seed, vocab_size);
}

Status write_token_shard(const std::string& path, std::span<const std::uint16_t> tokens) {
  std::int32_t header[kShardHeaderInts] = {};
  header[0] = kShardMagic;
  header[1] = kShardVersion;
  header[2] = static_cast<std::int32_t>(tokens.size());
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(header), sizeof header);
    file.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * 2));
    if (!file) return runtime_error("{}: cannot write the token shard: {}", temporary, std::strerror(errno));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) return runtime_error("{}: cannot rename into place: {}", path, error.message());
  return Status::success();
}

Result<std::vector<std::string>> prepare_byte_shards(const std::string& input_path, const std::string& output_prefix) {
  std::ifstream input(input_path, std::ios::binary);
  if (!input) return input_error("{}: cannot open the text file: {}", input_path, std::strerror(errno));
  std::vector<std::uint16_t> tokens;
  for (char c; input.get(c);) tokens.push_back(static_cast<unsigned char>(c));
  if (tokens.size() < 2) return input_error("{}: needs at least 2 bytes of text", input_path);
  const std::size_t split = tokens.size() * 9 / 10;
  const std::filesystem::path parent = std::filesystem::path(output_prefix).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::vector<std::string> written = {output_prefix + "_train.bin", output_prefix + "_val.bin"};
  LLMRT_RETURN_IF_ERROR(write_token_shard(written[0], std::span(tokens).first(split)));
  LLMRT_RETURN_IF_ERROR(write_token_shard(written[1], std::span(tokens).subspan(split)));
  return written;
}

}  // namespace llmrt
