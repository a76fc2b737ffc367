// Enumerate: the candidate layouts of a plan — degree triples, microbatch sizes, schedules
// and virtual stages — with the values [parallel] fixes respected and contradictions
// reported as input errors that name the key.
#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

constexpr const char* kInterleaved = "interleaved-1f1b";

std::vector<int> divisors_of(int n) {
  std::vector<int> out;
  for (int d = 1; d <= n; ++d) {
    if (n % d == 0) out.push_back(d);
  }
  return out;
}

// A fixed degree must be ≥ 1 and divide the world; pp must also leave every stage a layer.
Status check_fixed_degree(const Located<AutoInt>& value, const char* key, int world, int layers) {
  if (!value.value) return Status::success();
  const int degree = *value.value;
  if (degree < 1) return input_error("{}: {} must be at least 1", key_where(value.pos, key), degree);
  if (world % degree != 0) {
    return input_error("{}: {} does not divide the {} devices of the topology (one rank per device)",
                       key_where(value.pos, key), degree, world);
  }
  if (std::string_view(key) == "parallel.pp" && degree > layers) {
    return input_error("{}: pp = {} exceeds the model's {} layers; each pipeline stage needs at least one",
                       key_where(value.pos, key), degree, layers);
  }
  return Status::success();
}

bool matches(const AutoInt& fixed, int value) { return !fixed || *fixed == value; }

}  // namespace

Result<std::vector<Degrees>> enumerate_degrees(const PlanRequest& request, int layers) {
  const ParallelSpec& parallel = request.parallel;
  const int world = request.world_size;
  LLMRT_RETURN_IF_ERROR(check_fixed_degree(parallel.pp, "parallel.pp", world, layers));
  LLMRT_RETURN_IF_ERROR(check_fixed_degree(parallel.tp, "parallel.tp", world, layers));
  LLMRT_RETURN_IF_ERROR(check_fixed_degree(parallel.dp, "parallel.dp", world, layers));
  std::vector<Degrees> out;
  for (int pp : divisors_of(world)) {
    if (pp > layers || !matches(parallel.pp.value, pp)) continue;
    for (int tp : divisors_of(world / pp)) {
      const int dp = world / (pp * tp);
      if (matches(parallel.tp.value, tp) && matches(parallel.dp.value, dp)) out.push_back({pp, tp, dp});
    }
  }
  if (out.empty()) {
    const auto text = [](const AutoInt& v) { return v ? fmt::format("{}", *v) : std::string("auto"); };
    return input_error("{}: pp × tp × dp = {} × {} × {} cannot make the {} devices of the topology (one rank per "
                       "device, pp ≤ {} layers)",
                       key_where(parallel.dp.value ? parallel.dp.pos : parallel.tp.pos,
                                 parallel.dp.value ? "parallel.dp" : "parallel.tp"),
                       text(parallel.pp.value), text(parallel.tp.value), text(parallel.dp.value), world, layers);
  }
  return out;
}

std::vector<int> microbatch_size_candidates(const PlanRequest& request) {
  if (!request.microbatch_sizes.empty()) return request.microbatch_sizes;
  const ParallelSpec& parallel = request.parallel;
  if (parallel.pp.value && parallel.tp.value && parallel.dp.value) return {parallel.microbatch_size};
  return {1, 2, 4, 8};
}

namespace {

// Virtual-stage counts to try for `schedule`: 1, 2, 4 for interleaving unless [parallel]
// fixes a count (> 1); for a plugin schedule named in [parallel], its virtual_stages.
std::vector<int> virtual_stage_candidates(const PlanRequest& request, const std::string& schedule, int pp) {
  const ParallelSpec& parallel = request.parallel;
  if (schedule == kInterleaved) {
    if (pp == 1) return {1};  // one rank: interleaving is 1F1B
    if (parallel.virtual_stages > 1) return {parallel.virtual_stages};
    return {1, 2, 4};
  }
  if (schedule == parallel.schedule && schedule != "gpipe" && schedule != "1f1b" && schedule != "zb-h1") {
    return {parallel.virtual_stages};
  }
  return {1};
}

Layout base_layout(const Degrees& degrees, int microbatch_size, int microbatches, const std::string& schedule,
                   int virtual_stages) {
  Layout layout;
  layout.pp = degrees.pp;
  layout.tp = degrees.tp;
  layout.dp = degrees.dp;
  layout.microbatch_size = microbatch_size;
  layout.microbatches = microbatches;
  layout.schedule = schedule;
  layout.virtual_stages = virtual_stages;
  return layout;
}

// Why the planner will not try this shape, or nullopt.
std::optional<std::string> shape_rejection(const Layout& layout, int layers) {
  const int virtual_count = layout.pp * layout.virtual_stages;
  if (virtual_count > layers) {
    return fmt::format("pp × virtual_stages = {} × {} exceeds the model's {} layers", layout.pp,
                       layout.virtual_stages, layers);
  }
  if (layout.schedule == kInterleaved && layout.microbatches % layout.pp != 0) {
    return fmt::format("{} takes microbatches in groups of pp: {} microbatches is not a multiple of pp = {}",
                       kInterleaved, layout.microbatches, layout.pp);
  }
  return std::nullopt;
}

}  // namespace

// With one pipeline stage the built-in schedules all run F, B, W per microbatch on one rank
// (GPipe only holds more activations): 1F1B stands for them, plugin schedules stay.
std::vector<std::string> schedules_for(const PlanRequest& request, const Degrees& degrees) {
  std::vector<std::string> schedules =
      request.schedules.empty() ? std::vector<std::string>{request.parallel.schedule} : request.schedules;
  const bool has_1f1b = std::find(schedules.begin(), schedules.end(), "1f1b") != schedules.end();
  if (degrees.pp != 1 || !has_1f1b) return schedules;
  std::erase_if(schedules, [](const std::string& name) {
    return name == "gpipe" || name == "interleaved-1f1b" || name == "zb-h1";
  });
  return schedules;
}

std::vector<Layout> enumerate_schedules(const PlanRequest& request, const Degrees& degrees, int microbatch_size,
                                        int layers, std::vector<InfeasibleLayout>& infeasible) {
  const std::vector<std::string> schedules = schedules_for(request, degrees);
  const Result<int> microbatches = microbatches_per_replica(request.train, microbatch_size, degrees.dp);
  if (!microbatches.ok()) {
    infeasible.push_back({base_layout(degrees, microbatch_size, 0, schedules.front(), 1),
                          microbatches.error().message()});
    return {};
  }
  const std::optional<std::vector<int>>& fixed_split = request.parallel.stage_layers.value;
  std::vector<Layout> out;
  for (const std::string& schedule : schedules) {
    for (int v : virtual_stage_candidates(request, schedule, degrees.pp)) {
      Layout layout = base_layout(degrees, microbatch_size, *microbatches, schedule, v);
      // A fixed split names its virtual-stage count; other shapes are not candidates at all.
      if (fixed_split && static_cast<int>(fixed_split->size()) != degrees.pp * v) continue;
      if (auto why = shape_rejection(layout, layers)) {
        infeasible.push_back({std::move(layout), std::move(*why)});
        continue;
      }
      out.push_back(std::move(layout));
    }
  }
  return out;
}

}  // namespace llmrt
