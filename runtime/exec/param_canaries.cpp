// The parameter guard's canaries (train.guard_params; exec/layer_checks.h): a gap of gap_
// elements before, between and after the slices of a guarded ParamStore. In the weights the
// gaps hold NaN (a read past a slice poisons what the layer computes, which the anomaly check
// names; the optimizer keeps them NaN), in the gradients 0 (zero_grads keeps them; the norm,
// the reductions and the optimizer see nothing). A gap that changed is what a layer wrote
// outside its own slices.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "exec/param_store.h"

namespace llmrt {
namespace {

// A buffer's values in host memory (a copy from a device).
Result<std::vector<float>> host_values(const Buffer& buffer, ComputeDevice& device) {
  std::vector<float> values(buffer.count());
  LLMRT_RETURN_IF_ERROR(device.copy(values.data(), buffer.data(), values.size() * sizeof(float),
                                    copy_kind(device.id(), cpu_device().id()), nullptr));
  LLMRT_RETURN_IF_ERROR(device.synchronize(nullptr));
  return values;
}

struct Gap {
  std::size_t begin = 0;       // first canary element
  const ParamEntry* before = nullptr;  // the slice that ends at the gap, if any
  const ParamEntry* after = nullptr;   // the slice that starts after it, if any
};

// The gaps in buffer order: entries are laid out in offset order, each followed by one.
std::vector<Gap> gaps_of(const std::vector<ParamEntry>& entries) {
  std::vector<Gap> gaps{{0, nullptr, entries.empty() ? nullptr : &entries.front()}};
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const ParamEntry* next = i + 1 < entries.size() ? &entries[i + 1] : nullptr;
    gaps.push_back({entries[i].offset + entries[i].count, &entries[i], next});
  }
  return gaps;
}

// first, last: the changed canaries' range (in the buffer), changed: how many of them changed.
std::string describe_damage(const Gap& gap, std::size_t first, std::size_t last, std::size_t changed,
                            std::size_t gap_size, std::string_view buffer) {
  const std::string values = fmt::format("{} value{}", changed, changed == 1 ? "" : "s");
  // Closer to the slice before the gap: an overrun of its end; else an underrun of the next.
  if (gap.before != nullptr && (first - gap.begin < gap_size / 2 || gap.after == nullptr)) {
    const std::string at = first == last ? fmt::format("element {}", first - gap.begin)
                                         : fmt::format("elements {} to {}", first - gap.begin, last - gap.begin);
    return fmt::format("{} past the end of parameter '{}' ({} elements, local shape {}) in the {} ({} past its "
                       "end, counting from 0)", values, gap.before->name, gap.before->count,
                       shape_text(gap.before->local_shape), buffer, at);
  }
  return fmt::format("{} before the start of parameter '{}' ({} elements, local shape {}) in the {}", values,
                     gap.after->name, gap.after->count, shape_text(gap.after->local_shape), buffer);
}

}  // namespace

Status ParamStore::fill_canaries() {
  std::vector<float> values(params_.count(), 0.0f);
  for (const Gap& gap : gaps_of(entries_)) {
    std::fill_n(values.begin() + static_cast<std::ptrdiff_t>(gap.begin), gap_, std::numeric_limits<float>::quiet_NaN());
  }
  return device_->copy(params_.data(), values.data(), values.size() * sizeof(float),
                       copy_kind(cpu_device().id(), device_->id()), nullptr);
}

Result<std::string> ParamStore::canary_damage() const {
  if (gap_ == 0) return std::string();
  for (const bool weights : {true, false}) {
    const Buffer& buffer = weights ? params_ : grads_;
    std::vector<float> copy;
    const float* values = nullptr;
    if (weights && sharded_) {  // the compute copy's gaps, widened (NaN stays NaN)
      LLMRT_ASSIGN_OR_RETURN(copy, host_weights());
      values = copy.data();
    } else if (device_->is_host()) {
      values = buffer.data_as<float>();
    } else {
      LLMRT_ASSIGN_OR_RETURN(copy, host_values(buffer, *device_));
      values = copy.data();
    }
    for (const Gap& gap : gaps_of(entries_)) {
      std::size_t first = gap_, last = 0, changed = 0;
      for (std::size_t i = 0; i < gap_; ++i) {
        const float value = values[gap.begin + i];
        const bool intact = weights ? std::isnan(value) : std::memcmp(&value, "\0\0\0\0", sizeof(float)) == 0;
        if (intact) continue;
        first = std::min(first, i);
        last = i;
        ++changed;
      }
      if (first == gap_) continue;
      return describe_damage(gap, gap.begin + first, gap.begin + last, changed, gap_,
                             weights ? "weights" : "gradients");
    }
  }
  return std::string();
}

}  // namespace llmrt
