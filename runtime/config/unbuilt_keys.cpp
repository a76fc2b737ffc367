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

void metrics_warnings(const MetricsSpec& metrics, std::vector<std::string>& out) {
  if (written(metrics.prometheus) && !metrics.prometheus.value.empty()) {
    add(out, metrics.prometheus.pos,
        fmt::format("metrics.prometheus = \"{}\": the Prometheus endpoint is not built yet; nothing listens there "
                    "(metrics.jsonl in the run directory has every step)", metrics.prometheus.value));
  }
  if (written(metrics.tensorboard) && metrics.tensorboard.value) {
    add(out, metrics.tensorboard.pos,
        "metrics.tensorboard = true: TensorBoard event files are not built yet; this run writes none "
        "(metrics.jsonl in the run directory has every step)");
  }
}

}  // namespace

std::vector<std::string> unbuilt_key_warnings(const Spec& spec) {
  std::vector<std::string> out;
  metrics_warnings(spec.metrics, out);
  return out;
}

}  // namespace llmrt
