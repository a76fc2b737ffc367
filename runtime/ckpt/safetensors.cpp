#include "ckpt/safetensors.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <future>
#include <cstring>
#include <llmrt/half.hpp>
#include <nlohmann/json.hpp>

namespace llmrt {
namespace {

// An fd closed on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { int fd = fd_; fd_ = -1; return fd; }

 private:
  int fd_;
};

Status write_all(int fd, const void* data, std::size_t size, const std::string& path) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, std::min<std::size_t>(size, std::size_t{1} << 30));
    if (written < 0) {
      if (errno == EINTR) continue;
      return runtime_error("{}: cannot write: {}", path, std::strerror(errno));
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
  return Status::success();
}

std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (std::int64_t dim : shape) count *= dim;
  return count;
}

Result<std::string> header_of(const std::vector<SafetensorsView>& tensors,
                              const std::map<std::string, std::string>& metadata, const std::string& path) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (const SafetensorsView& tensor : tensors) {
    const std::size_t size = safetensors_dtype_size(tensor.dtype);
    if (size == 0) return runtime_error("{}: tensor {}: dtype {} cannot be written", path, tensor.name, tensor.dtype);
    if (static_cast<std::size_t>(element_count(tensor.shape)) * size != tensor.bytes.size()) {
      return runtime_error("{}: tensor {}: {} bytes do not match its shape", path, tensor.name, tensor.bytes.size());
    }
    if (header.contains(tensor.name)) return runtime_error("{}: tensor {} is named twice", path, tensor.name);
    header[tensor.name] = {{"dtype", tensor.dtype}, {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  return text;
}

}  // namespace

std::size_t safetensors_dtype_size(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "U8" || dtype == "I8" || dtype == "BOOL") return 1;
  return 0;
}

std::int64_t SafetensorsEntry::elements() const { return element_count(shape); }

Result<WrittenFile> write_safetensors(const std::string& path, const std::vector<SafetensorsView>& tensors,
                                      const std::map<std::string, std::string>& metadata) {
  LLMRT_ASSIGN_OR_RETURN(const std::string header, header_of(tensors, metadata, path));
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return runtime_error("{}: cannot create: {}", path, std::strerror(errno));
  WrittenFile out{path, 0, 0};
  const std::uint64_t size = header.size();
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>(size >> (8 * i));
  // The tensors' CRC-32 on a second thread while this one writes (the disk and the checksum
  // each take about as long); joined before the future goes, on every path.
  std::future<std::pair<uLong, std::size_t>> data_crc = std::async(std::launch::async, [&tensors] {
    uLong crc = ::crc32_z(0, nullptr, 0);
    std::size_t bytes = 0;
    for (const SafetensorsView& tensor : tensors) {
      crc = ::crc32_z(crc, reinterpret_cast<const unsigned char*>(tensor.bytes.data()), tensor.bytes.size());
      bytes += tensor.bytes.size();
    }
    return std::pair(crc, bytes);
  });
  auto write_everything = [&]() -> Status {
    LLMRT_RETURN_IF_ERROR(write_all(fd.get(), prefix, 8, path));
    LLMRT_RETURN_IF_ERROR(write_all(fd.get(), header.data(), header.size(), path));
    out.bytes = 8 + header.size();
    for (const SafetensorsView& tensor : tensors) {
      LLMRT_RETURN_IF_ERROR(write_all(fd.get(), tensor.bytes.data(), tensor.bytes.size(), path));
      out.bytes += tensor.bytes.size();
    }
    if (::fsync(fd.get()) != 0) return runtime_error("{}: cannot sync to disk: {}", path, std::strerror(errno));
    if (::close(fd.release()) != 0) return runtime_error("{}: cannot close: {}", path, std::strerror(errno));
    return Status::success();
  };
  Status written = write_everything();
  const auto [crc, data_bytes] = data_crc.get();
  if (!written.ok()) {
    ::unlink(path.c_str());
    return written.error();
  }
  uLong head = ::crc32_z(::crc32_z(0, nullptr, 0), prefix, 8);
  head = ::crc32_z(head, reinterpret_cast<const unsigned char*>(header.data()), header.size());
  out.crc32 = static_cast<std::uint32_t>(::crc32_combine(head, crc, static_cast<z_off_t>(data_bytes)));
  return out;
}

Result<WrittenFile> write_model_tensors(const std::string& path, const ModelTensors& model,
                                        std::map<std::string, std::string> metadata) {
  std::vector<SafetensorsView> views;
  for (const auto& [name, tensor] : model) {
    views.push_back({name, "F32", tensor.shape, std::as_bytes(std::span<const float>(tensor.values))});
  }
  metadata["format"] = "llmrt";
  return write_safetensors(path, views, metadata);
}

Result<WrittenFile> checksum_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return runtime_error("{}: cannot open: {}", path, std::strerror(errno));
  WrittenFile out{path, 0, static_cast<std::uint32_t>(::crc32_z(0, nullptr, 0))};
  std::vector<unsigned char> block(std::size_t{8} << 20);
  for (;;) {
    const ssize_t got = ::read(fd.get(), block.data(), block.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      return runtime_error("{}: cannot read: {}", path, std::strerror(errno));
    }
    if (got == 0) break;
    out.crc32 = static_cast<std::uint32_t>(::crc32_z(out.crc32, block.data(), static_cast<std::size_t>(got)));
    out.bytes += static_cast<std::uint64_t>(got);
  }
  return out;
}

namespace {

Result<SafetensorsEntry> parse_entry(const std::string& path, const std::string& name, const nlohmann::json& value,
                                     std::size_t buffer_size) {
  auto bad = [&](const std::string& what) { return input_error("{}: tensor {}: {}", path, name, what); };
  if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets")) {
    return bad("expected an object with dtype, shape and data_offsets");
  }
  SafetensorsEntry entry;
  if (!value["dtype"].is_string()) return bad("dtype is not a string");
  entry.dtype = value["dtype"].get<std::string>();
  const std::size_t size = safetensors_dtype_size(entry.dtype);
  if (size == 0) return bad(fmt::format("dtype {} is not one llmrt reads", entry.dtype));
  if (!value["shape"].is_array()) return bad("shape is not an array");
  std::int64_t elements = 1;
  for (const auto& dim : value["shape"]) {
    if (!dim.is_number_unsigned() || dim.get<std::uint64_t>() > (std::uint64_t{1} << 40)) {
      return bad("a shape entry is not a dimension");
    }
    entry.shape.push_back(dim.get<std::int64_t>());
    // Checked before multiplying: [2^40, 2^40] would overflow int64 (found by tests/fuzz).
    if (entry.shape.back() != 0 && elements > (std::int64_t{1} << 40) / entry.shape.back()) {
      return bad("the shape is larger than any file");
    }
    elements *= entry.shape.back();
  }
  const auto& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return bad("data_offsets is not [BEGIN, END]");
  }
  entry.begin = offsets[0].get<std::size_t>();
  entry.end = offsets[1].get<std::size_t>();
  if (entry.begin > entry.end || entry.end > buffer_size) {
    return bad(fmt::format("data_offsets [{}, {}] leave the file's {} data bytes", entry.begin, entry.end, buffer_size));
  }
  if (entry.end - entry.begin != static_cast<std::size_t>(elements) * size) {
    return bad(fmt::format("data_offsets span {} bytes, its shape and dtype need {}", entry.end - entry.begin,
                           static_cast<std::size_t>(elements) * size));
  }
  return entry;
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  LLMRT_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  const std::size_t file_size = mapped.size();
  if (file_size < 8) return input_error("{}: truncated: {} bytes, a safetensors file has at least 8", path, file_size);
  SafetensorsFile file(std::move(mapped));
  const std::byte* bytes = file.mapped_.bytes().data();
  std::uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= std::uint64_t(std::to_integer<unsigned>(bytes[i])) << (8 * i);
  if (header_size > file_size - 8) {
    return input_error("{}: offset 0: the header claims {} bytes, the file has {} after the size", path, header_size,
                       file_size - 8);
  }
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  nlohmann::json header = nlohmann::json::parse(text, text + header_size, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) return input_error("{}: offset 8: the header is not a JSON object", path);
  file.buffer_offset_ = 8 + header_size;
  const std::size_t buffer_size = file_size - file.buffer_offset_;
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return input_error("{}: __metadata__ is not a string map", path);
      for (const auto& [key, item] : value.items()) {
        if (!item.is_string()) return input_error("{}: __metadata__.{} is not a string", path, key);
        file.metadata_[key] = item.get<std::string>();
      }
      continue;
    }
    LLMRT_ASSIGN_OR_RETURN(SafetensorsEntry entry, parse_entry(path, name, value, buffer_size));
    spans.emplace_back(entry.begin, entry.end);
    file.entries_.emplace(name, std::move(entry));
  }
  std::sort(spans.begin(), spans.end());
  std::size_t covered = 0;
  for (const auto& [begin, end] : spans) {
    if (begin != covered) return input_error("{}: tensors overlap or leave a hole at data byte {}", path, covered);
    covered = end;
  }
  if (covered != buffer_size) {
    return input_error("{}: the tensors cover {} of the file's {} data bytes (truncated or padded)", path, covered,
                       buffer_size);
  }
  return file;
}

Result<std::span<const std::byte>> SafetensorsFile::bytes(const std::string& name) const {
  auto found = entries_.find(name);
  if (found == entries_.end()) return input_error("{}: has no tensor {}", path(), name);
  return mapped_.bytes().subspan(buffer_offset_ + found->second.begin, found->second.end - found->second.begin);
}

Result<std::vector<float>> SafetensorsFile::read_f32(const std::string& name) const {
  LLMRT_ASSIGN_OR_RETURN(std::span<const std::byte> raw, bytes(name));
  const SafetensorsEntry& entry = entries_.at(name);
  std::vector<float> out(static_cast<std::size_t>(entry.elements()));
  if (entry.dtype == "F32") {
    std::memcpy(out.data(), raw.data(), raw.size());
  } else if (entry.dtype == "BF16" || entry.dtype == "F16") {
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::uint16_t bits;
      std::memcpy(&bits, raw.data() + 2 * i, 2);
      out[i] = entry.dtype == "BF16" ? float_from_bf16(bits) : float_from_f16(bits);
    }
  } else if (entry.dtype == "F64") {
    for (std::size_t i = 0; i < out.size(); ++i) {
      double value;
      std::memcpy(&value, raw.data() + 8 * i, 8);
      out[i] = static_cast<float>(value);
    }
  } else {
    return input_error("{}: tensor {} is {}, expected a floating-point tensor", path(), name, entry.dtype);
  }
  return out;
}

}  // namespace llmrt
