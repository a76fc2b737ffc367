// safetensors files (the format Hugging Face and most of the field read): write from tensor views
// with a running CRC-32 of every byte, and read back through mmap with the header checked before
// any tensor is touched. Checkpoints, exports and init_from all go through here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ckpt/model_tensors.h"
#include "util/mapped_file.h"
#include "util/status.h"

namespace llmrt {

// A tensor to write: name, safetensors dtype ("F32", "BF16", "F16", "I32", "I64", "U8", "F64"),
// shape, and its bytes (row-major, little-endian; size = product(shape) × dtype size).
struct SafetensorsView {
  std::string name;
  std::string dtype = "F32";
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

struct WrittenFile {
  std::string path;
  std::uint64_t bytes = 0;  // the whole file
  std::uint32_t crc32 = 0;  // zlib's CRC-32 of the whole file
};

// Writes `tensors` (names unique) and `metadata` (string → string) to `path` and fsyncs it.
// The header is padded with spaces to a multiple of 8, tensors laid out in the order given.
// Errors (a full disk included) name the file; a partly written file is removed.
Result<WrittenFile> write_safetensors(const std::string& path, const std::vector<SafetensorsView>& tensors,
                                      const std::map<std::string, std::string>& metadata = {});

// A consolidated model file: every tensor of `model` as F32 under its ParamEntry name, with
// metadata "format" = "llmrt" plus `metadata` (e.g. "config": the resolved config text, "step").
// What `ckpt export` writes and init_from, `sample` and `--format hf` read.
Result<WrittenFile> write_model_tensors(const std::string& path, const ModelTensors& model,
                                        std::map<std::string, std::string> metadata = {});

// zlib CRC-32 of a whole file, read in large blocks (for checking a checkpoint before loading).
Result<WrittenFile> checksum_file(const std::string& path);

// One tensor's entry in a file's header.
struct SafetensorsEntry {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0, end = 0;  // into the byte buffer
  std::int64_t elements() const;
};

// A safetensors file mapped read-only. The header is validated on open: its size, JSON object,
// known dtypes, shapes, offsets that match shape × dtype, lie in the file and leave no holes or
// overlaps. Errors name the file and, where there is one, the tensor.
class SafetensorsFile {
 public:
  static Result<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return mapped_.path(); }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  // The tensor's raw bytes (entry().end − begin of them).
  Result<std::span<const std::byte>> bytes(const std::string& name) const;
  // The tensor widened to fp32 (from F32, BF16, F16 or F64); other dtypes are an error.
  Result<std::vector<float>> read_f32(const std::string& name) const;

 private:
  explicit SafetensorsFile(MappedFile mapped) : mapped_(std::move(mapped)) {}
  MappedFile mapped_;
  std::size_t buffer_offset_ = 0;  // 8 + header size
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Bytes per element of a safetensors dtype, or 0 when it is not one this runtime reads.
std::size_t safetensors_dtype_size(const std::string& dtype);

}  // namespace llmrt
