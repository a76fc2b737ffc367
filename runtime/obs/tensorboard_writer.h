// TensorBoard event files written by hand: TFRecord framing (masked CRC-32C) around the few
// protobuf messages a scalar dashboard needs (docs/watching.md, shared formats reference §1).
// The first record holds file_version "brain.Event:2"; then one Event per scalar, and SessionLog
// START markers where a session (re)starts, so that TensorBoard hides points a restart made stale.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

namespace llmrt::obs {

// The Event messages, serialized as protoc would (proto3: default-valued fields left out).
std::string encode_file_version_event(double wall_time);
std::string encode_scalar_event(double wall_time, std::int64_t step, std::string_view tag, float value);
std::string encode_session_start_event(double wall_time, std::int64_t step);

// One TFRecord: [u64 length][u32 masked crc of those 8 bytes][payload][u32 masked crc of payload],
// little-endian, no padding.
std::string frame_record(std::string_view payload);

// "events.out.tfevents.<unix seconds, 10 digits>.<host>.<pid>": lexicographic order is time
// order, which is the order TensorBoard reads a directory's files in.
std::string event_file_name(std::int64_t unix_seconds, std::string_view host, long pid);

// One event file in its own directory (one writer per directory: TensorBoard reads a
// directory's files as one stream). Records are buffered whole and reach the file on flush().
class TensorBoardWriter {
 public:
  // Creates `dir` and a new file in it with the file_version record, flushed.
  static Result<std::unique_ptr<TensorBoardWriter>> open(const std::string& dir);
  ~TensorBoardWriter();  // flushes what is buffered and closes the file
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  void add_scalar(std::string_view tag, std::int64_t step, double value);  // stored as float32
  // A session starts at `step`: a reader drops every point it holds with a step >= `step`.
  void session_start(std::int64_t step);
  // Writes the buffered records; an error names the file.
  Status flush();
  const std::string& path() const { return path_; }

 private:
  TensorBoardWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void append(std::string_view payload);

  int fd_ = -1;
  std::string path_;
  std::string pending_;  // whole records not yet written
};

}  // namespace llmrt::obs
