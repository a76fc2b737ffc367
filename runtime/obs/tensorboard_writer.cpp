#include "obs/tensorboard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "device/host_devices.h"
#include "obs/crc32c.h"

namespace llmrt::obs {
namespace {

// Protobuf wire types.
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_tag(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<std::uint64_t>(field << 3 | wire_type));
}

template <typename T>
void put_little_endian(std::string& out, T value) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // x86-64 and aarch64 Linux are little-endian
  out.append(reinterpret_cast<const char*>(bytes), sizeof(T));
}

void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_tag(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes);
}

// Event fields: wall_time = 1 (double), step = 2 (int64: negative steps as 10-byte varints).
std::string event_header(double wall_time, std::int64_t step) {
  std::string event;
  put_tag(event, 1, kFixed64);
  put_little_endian(event, wall_time);
  if (step != 0) {
    put_tag(event, 2, kVarint);
    put_varint(event, static_cast<std::uint64_t>(step));
  }
  return event;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int create_new_file(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
}

}  // namespace

std::string encode_file_version_event(double wall_time) {
  std::string event = event_header(wall_time, 0);
  put_bytes(event, 3, "brain.Event:2");  // file_version
  std::string source;                    // SourceMetadata { writer = 1 }
  put_bytes(source, 1, "llmrt");
  put_bytes(event, 10, source);          // source_metadata
  return event;
}

std::string encode_scalar_event(double wall_time, std::int64_t step, std::string_view tag, float value) {
  std::string summary_value;  // Summary.Value { tag = 1; simple_value = 2 (float) }
  put_bytes(summary_value, 1, tag);
  put_tag(summary_value, 2, kFixed32);
  put_little_endian(summary_value, value);
  std::string summary;  // Summary { repeated Value value = 1 }
  put_bytes(summary, 1, summary_value);
  std::string event = event_header(wall_time, step);
  put_bytes(event, 5, summary);  // summary
  return event;
}

std::string encode_session_start_event(double wall_time, std::int64_t step) {
  std::string session_log;  // SessionLog { status = 1 (START = 1) }
  put_tag(session_log, 1, kVarint);
  put_varint(session_log, 1);
  std::string event = event_header(wall_time, step);
  put_bytes(event, 7, session_log);  // session_log
  return event;
}

std::string frame_record(std::string_view payload) {
  std::string record;
  put_little_endian(record, static_cast<std::uint64_t>(payload.size()));
  put_little_endian(record, masked_crc32c(record));  // of the 8 length bytes
  record.append(payload);
  put_little_endian(record, masked_crc32c(payload));
  return record;
}

std::string event_file_name(std::int64_t unix_seconds, std::string_view host, long pid) {
  return fmt::format("events.out.tfevents.{:010d}.{}.{}", unix_seconds, host, pid);
}

Result<std::unique_ptr<TensorBoardWriter>> TensorBoardWriter::open(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return runtime_error("{}: cannot create the TensorBoard directory: {}", dir, error.message());
  const double wall_time = now_seconds();
  const std::string base =
      dir + "/" + event_file_name(static_cast<std::int64_t>(wall_time), this_host_name(), static_cast<long>(getpid()));
  // A second writer of this process in the same second takes base.1, base.2, ...: never another's file.
  std::string path = base;
  int fd = create_new_file(path);
  for (int suffix = 1; fd < 0 && errno == EEXIST && suffix < 1000; ++suffix) {
    path = fmt::format("{}.{}", base, suffix);
    fd = create_new_file(path);
  }
  if (fd < 0) return runtime_error("{}: cannot create the TensorBoard event file: {}", path, std::strerror(errno));
  std::unique_ptr<TensorBoardWriter> writer(new TensorBoardWriter(fd, path));
  writer->append(encode_file_version_event(wall_time));
  LLMRT_RETURN_IF_ERROR(writer->flush());
  return writer;
}

TensorBoardWriter::~TensorBoardWriter() {
  (void)flush();  // a failure here has nowhere to go: the run already said so at its last flush
  ::close(fd_);
}

void TensorBoardWriter::append(std::string_view payload) { pending_ += frame_record(payload); }

void TensorBoardWriter::add_scalar(std::string_view tag, std::int64_t step, double value) {
  append(encode_scalar_event(now_seconds(), step, tag, static_cast<float>(value)));
}

void TensorBoardWriter::session_start(std::int64_t step) { append(encode_session_start_event(now_seconds(), step)); }

Status TensorBoardWriter::flush() {
  std::size_t written = 0;
  while (written < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + written, pending_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string reason = n < 0 ? std::strerror(errno) : "nothing written";
      pending_.erase(0, written);
      return runtime_error("{}: cannot write TensorBoard events: {}", path_, reason);
    }
    written += static_cast<std::size_t>(n);
  }
  pending_.clear();
  return Status::success();
}

}  // namespace llmrt::obs
