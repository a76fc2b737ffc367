#include "data/token_shards.h"

#include <glob.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string_view>

#include <fmt/format.h>

#include "data/token_scan.h"
#include "data/window_order.h"
#include "util/file_write.h"
#include "util/mapped_file.h"

namespace llmrt {
namespace {

constexpr std::size_t kHeaderBytes = kShardHeaderInts * 4;

// One shard, mapped: its tokens are read in place.
struct MappedShard {
  MappedFile file;
  std::size_t tokens = 0;
  std::size_t windows = 0;  // (tokens − 1) / T: windows of T + 1 tokens at stride T
  std::uint16_t token(std::size_t index) const {
    std::uint16_t value;
    std::memcpy(&value, file.bytes().data() + kHeaderBytes + index * 2, sizeof value);
    return value;
  }
};

// Magic, version, and a file size that matches the header's token count, before any token is read.
Result<MappedShard> map_shard(const std::string& path) {
  LLMRT_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  const std::size_t size = file.size();
  if (size < kHeaderBytes) {
    return input_error("{}: truncated token shard: {} bytes, expected a {}-byte header", path, size, kHeaderBytes);
  }
  std::int32_t header[3];
  std::memcpy(header, file.bytes().data(), sizeof header);
  if (header[0] != kShardMagic) {
    return input_error("{}: offset 0: not an llm.c token shard (magic {}, expected {})", path, header[0], kShardMagic);
  }
  if (header[1] != kShardVersion) {
    return input_error("{}: offset 4: token shard version {} is not supported (expected {}: uint16 tokens)", path,
                       header[1], kShardVersion);
  }
  if (header[2] < 0) return input_error("{}: offset 8: negative token count {}", path, header[2]);
  const std::size_t count = static_cast<std::size_t>(header[2]), expected = kHeaderBytes + count * 2;
  if (size != expected) {
    return input_error("{}: {}: the header promises {} tokens ({} bytes), the file has {}", path,
                       size < expected ? "truncated token shard" : "token shard longer than its header says", count,
                       expected, size);
  }
  return MappedShard{std::move(file), count, 0};
}

// Windows of seq + 1 tokens at stride seq in a shard of `tokens`.
std::size_t shard_windows(std::size_t tokens, std::size_t seq) { return tokens > seq ? (tokens - 1) / seq : 0; }

// Every shard `pattern` matches, in name order, mapped and validated: a bad one fails before step 1.
Result<std::vector<MappedShard>> map_shards(const std::string& pattern, std::string_view key) {
  glob_t matches{};
  const int status = glob(pattern.c_str(), 0, nullptr, &matches);
  std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + (status == 0 ? matches.gl_pathc : 0));
  globfree(&matches);
  if (paths.empty()) return input_error("{} = \"{}\": no file matches", key, pattern);
  std::sort(paths.begin(), paths.end());
  std::vector<MappedShard> shards;
  for (const std::string& path : paths) {
    LLMRT_ASSIGN_OR_RETURN(auto shard, map_shard(path));
    shards.push_back(std::move(shard));
  }
  return shards;
}

// The index of a shard's first token id ≥ limit (or its token count), read in chunks whose pages
// are dropped from this process once scanned: a 20 GB dataset does not become 20 GB of every
// rank's resident memory (and its reported peak), only the page cache's.
std::size_t scan_shard(const MappedShard& shard, std::uint32_t limit) {
  constexpr std::size_t kChunkBytes = std::size_t{64} << 20;  // a multiple of any page size
  const std::span<const std::byte> file = shard.file.bytes();
  const std::size_t end = kHeaderBytes + shard.tokens * 2;
  for (std::size_t chunk = 0; chunk < end; chunk += kChunkBytes) {
    const std::size_t from = std::max(chunk, kHeaderBytes), to = std::min(end, chunk + kChunkBytes);
    const std::size_t bad = first_token_at_or_above(file.subspan(from, to - from), limit);
    // Pages of a read-only file mapping: dropping them loses nothing, a later read maps them again.
    ::madvise(const_cast<std::byte*>(file.data()) + chunk, to - chunk, MADV_DONTNEED);
    if (bad < (to - from) / 2) return (from - kHeaderBytes) / 2 + bad;
  }
  return shard.tokens;
}

Error no_window_error(std::string_view key, const std::string& pattern, std::size_t tokens, std::size_t files,
                       std::int64_t seq) {
  return input_error("{} = \"{}\": {} tokens in {} shard(s), no shard holds one window of seq_len + 1 = {} tokens",
                     key, pattern, tokens, files, seq + 1);
}

class ShardSource final : public TokenSource {
 public:
  ShardSource(std::vector<MappedShard> shards, std::int64_t vocab_size, std::int64_t seq, ShardOrder order)
      : shards_(std::move(shards)), vocab_size_(vocab_size), seq_(static_cast<std::size_t>(seq)),
        order_(count_windows(), order.shuffle, order.seed) {}

  std::int64_t windows() const override { return order_.windows(); }

  Result<TokenBatch> sequences_at(std::int64_t first, std::int64_t count) override {
    TokenBatch out;
    out.inputs.resize(static_cast<std::size_t>(count) * seq_);
    out.targets.resize(out.inputs.size());
    for (std::int64_t row = 0; row < count; ++row) {
      LLMRT_RETURN_IF_ERROR(read_sequence(first + row, static_cast<std::size_t>(row) * seq_, out));
    }
    return out;
  }

 private:
  std::int64_t count_windows() {
    std::int64_t total = 0;
    for (MappedShard& shard : shards_) {
      shard.windows = shard_windows(shard.tokens, seq_);
      total += static_cast<std::int64_t>(shard.windows);
      first_window_.push_back(total);  // prefix sums: shard s holds windows [first_window_[s-1], first_window_[s])
    }
    return total;
  }

  // Sequence `sequence` into row `at` of `out`: its window, then that window's shard and place.
  Status read_sequence(std::int64_t sequence, std::size_t at, TokenBatch& out) const {
    const std::int64_t window = order_.window_of(sequence);
    const std::size_t s = static_cast<std::size_t>(
        std::upper_bound(first_window_.begin(), first_window_.end(), window) - first_window_.begin());
    const MappedShard& shard = shards_[s];
    const std::size_t local = static_cast<std::size_t>(window - (s == 0 ? 0 : first_window_[s - 1]));
    const std::size_t slack = shard.tokens - 1 - shard.windows * seq_;  // tokens no window of offset 0 reaches
    const std::size_t offset = static_cast<std::size_t>(
        order_.epoch_offset(order_.epoch_of(sequence), static_cast<std::int64_t>(slack) + 1));
    const std::size_t position = offset + local * seq_;
    for (std::size_t i = 0; i <= seq_; ++i) {
      const std::uint16_t token = shard.token(position + i);
      if (token >= vocab_size_) {
        return input_error("{}: token {} at byte offset {} is not below vocab_size = {}", shard.file.path(), token,
                           kHeaderBytes + (position + i) * 2, vocab_size_);
      }
      if (i < seq_) out.inputs[at + i] = token;
      if (i > 0) out.targets[at + i - 1] = token;
    }
    return Status::success();
  }

  std::vector<MappedShard> shards_;
  std::vector<std::int64_t> first_window_;  // [shard] windows in shards 0 .. shard
  std::int64_t vocab_size_;
  std::size_t seq_;
  WindowOrder order_;
};

class RandomSource final : public TokenSource {
 public:
  RandomSource(std::uint64_t seed, std::int64_t vocab_size, std::int64_t seq)
      : seed_(seed), vocab_size_(vocab_size), seq_(static_cast<std::size_t>(seq)) {}

  std::int64_t windows() const override { return 0; }

  Result<TokenBatch> sequences_at(std::int64_t first, std::int64_t count) override {
    TokenBatch out;
    std::uniform_int_distribution<std::int32_t> token(0, static_cast<std::int32_t>(vocab_size_ - 1));
    for (std::int64_t row = 0; row < count; ++row) {
      // One generator per sequence: any rank can draw sequence g without drawing the ones before.
      std::mt19937_64 generator(seed_ * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(first + row));
      std::vector<std::int32_t> stream(seq_ + 1);
      for (auto& value : stream) value = token(generator);
      out.inputs.insert(out.inputs.end(), stream.begin(), stream.end() - 1);
      out.targets.insert(out.targets.end(), stream.begin() + 1, stream.end());
    }
    return out;
  }

 private:
  std::uint64_t seed_;
  std::int64_t vocab_size_;
  std::size_t seq_;
};

}  // namespace

Result<std::unique_ptr<TokenSource>> open_token_shards(const std::string& pattern, std::string_view key,
                                                       std::int64_t vocab_size, std::int64_t seq, ShardOrder order) {
  LLMRT_ASSIGN_OR_RETURN(std::vector<MappedShard> shards, map_shards(pattern, key));
  std::size_t tokens = 0;
  for (const MappedShard& shard : shards) tokens += shard.tokens;
  const std::size_t files = shards.size();
  auto source = std::make_unique<ShardSource>(std::move(shards), vocab_size, seq, order);
  if (source->windows() == 0) return no_window_error(key, pattern, tokens, files, seq);
  return std::unique_ptr<TokenSource>(std::move(source));
}

Result<ShardSummary> check_token_shards(const std::string& pattern, std::string_view key, std::int64_t vocab_size,
                                        std::int64_t seq) {
  LLMRT_ASSIGN_OR_RETURN(std::vector<MappedShard> shards, map_shards(pattern, key));
  ShardSummary summary;
  summary.files = shards.size();
  for (const MappedShard& shard : shards) {
    const std::size_t bad = scan_shard(shard, static_cast<std::uint32_t>(std::min<std::int64_t>(vocab_size, 0x10000)));
    if (bad < shard.tokens) {
      return input_error("{}: token {} at byte offset {} is not below vocab_size = {}", shard.file.path(),
                         shard.token(bad), kHeaderBytes + bad * 2, vocab_size);
    }
    summary.tokens += static_cast<std::int64_t>(shard.tokens);
    summary.windows += static_cast<std::int64_t>(shard_windows(shard.tokens, static_cast<std::size_t>(seq)));
  }
  if (summary.windows == 0) {
    return no_window_error(key, pattern, static_cast<std::size_t>(summary.tokens), summary.files, seq);
  }
  return summary;
}

std::unique_ptr<TokenSource> random_tokens(std::uint64_t seed, std::int64_t vocab_size, std::int64_t seq) {
  return std::make_unique<RandomSource>(seed, vocab_size, seq);
}

Status write_token_shard(const std::string& path, std::span<const std::uint16_t> tokens) {
  if (tokens.size() > 2147483647u) {
    return input_error("{}: {} tokens; a shard's header counts at most 2147483647", path, tokens.size());
  }
  std::int32_t header[kShardHeaderInts] = {};
  header[0] = kShardMagic;
  header[1] = kShardVersion;
  header[2] = static_cast<std::int32_t>(tokens.size());
  const std::string_view parts[] = {{reinterpret_cast<const char*>(header), sizeof header},
                                     {reinterpret_cast<const char*>(tokens.data()), tokens.size() * 2}};
  return write_file_replacing(path, parts);
}

}  // namespace llmrt
