// What a run does not do yet, one warning per written key: see unbuilt_keys.h.
#include "config/unbuilt_keys.h"

#include <fmt/format.h>

namespace llmrt {
namespace {

// read_job.cpp leaves a not-built key's position empty unless the user wrote the key.
template <typename T>
bool written(const Located<T>& key) {
  return !key.pos.file.empty();
}

std::string where(const SourcePos& pos) {
  if (pos.line > 0) return fmt::format(" ({}:{}:{})", pos.file, pos.line, pos.column);
  return fmt::format(" ({})", pos.file);  // "--set", or a file without positions
}

void add(std::vector<std::string>& out, const SourcePos& pos, std::string message) {
  out.push_back(message + where(pos));
}

void checkpoint_warnings(const CheckpointSpec& checkpoint, std::vector<std::string>& out) {
  if (written(checkpoint.dir) && !checkpoint.dir.value.empty()) {
    add(out, checkpoint.dir.pos,
        fmt::format("checkpoint.dir = \"{}\": checkpoints are not built yet; nothing is written there or resumed "
                    "from it", checkpoint.dir.value));
  }
  if (written(checkpoint.every) && checkpoint.every.value > 0) {
    add(out, checkpoint.every.pos,
        fmt::format("checkpoint.every = {}: checkpoints are not built yet; this run keeps none", checkpoint.every.value));
  }
  if (written(checkpoint.keep)) {
    add(out, checkpoint.keep.pos,
        fmt::format("checkpoint.keep = {}: checkpoints are not built yet; there are none to keep", checkpoint.keep.value));
  }
  if (written(checkpoint.resume) && checkpoint.resume.value != "never") {
    add(out, checkpoint.resume.pos,
        fmt::format("checkpoint.resume = \"{}\": resuming is not built yet; this run starts at step 0 from freshly "
                    "initialised weights", checkpoint.resume.value));
  }
}

void data_warnings(const DataSpec& data, std::vector<std::string>& out) {
  if (written(data.val) && !data.val.value.empty()) {
    add(out, data.val.pos,
        fmt::format("data.val = \"{}\": validation is not built yet; this run never reads it", data.val.value));
  }
  if (written(data.val_every) && data.val_every.value > 0) {
    add(out, data.val_every.pos,
        fmt::format("data.val_every = {}: validation is not built yet; this run reports no validation loss",
                    data.val_every.value));
  }
}

}  // namespace

std::vector<std::string> unbuilt_key_warnings(const Spec& spec) {
  std::vector<std::string> out;
  data_warnings(spec.data, out);
  checkpoint_warnings(spec.checkpoint, out);
  return out;
}

}  // namespace llmrt
