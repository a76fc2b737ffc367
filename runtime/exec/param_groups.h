// Param groups and the optimizer's parameter table (issue 13): which [[train.param_group]] each
// parameter falls in, its lr scale and weight decay resolved (no decay by default on 1-D
// tensors and on what layers flag LLMRT_PARAM_NO_DECAY, as nanoGPT, Megatron and torchtitan
// do), and the llmrt_optimizer_param entries an optimizer call over a flat range receives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <llmrt/plugin.h>

#include "config/spec.h"
#include "exec/param_store.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// A parameter as the groups see it.
struct GroupedParam {
  std::string name;      // checkpoint name
  int ndim = 0;          // tensor rank
  bool no_decay = false; // 1-D, or flagged by its layer
};

// What one parameter steps with.
struct ParamGroupValues {
  double lr_scale = 1;
  double weight_decay = 0;
  bool no_decay = false;  // GroupedParam::no_decay
  int group = -1;         // index into TrainSpec::param_groups, -1 for none
};

// `*` any run of characters (dots and brackets too), `?` one; everything else literal.
bool glob_match(std::string_view pattern, std::string_view name);

// Each parameter's values. A parameter two groups select is an error naming both (groups must
// not overlap: no order to remember); with `every_pattern_matches` (the whole model, at check)
// so is a pattern or group that selects nothing. `optimizer_weight_decay` is the optimizer's own
// (its weight_decay key), taken by parameters without a group's and without no_decay.
Result<std::vector<ParamGroupValues>> resolve_param_groups(const std::vector<ParamGroupSpec>& groups,
                                                           const std::vector<GroupedParam>& params,
                                                           double optimizer_weight_decay, bool every_pattern_matches);

// `check` and `run`: the groups against every parameter of the model (created at tp = 1), the
// optimizer's flags against the groups (LLMRT_OPTIMIZER_PARAM_GROUPS) and against an explicit
// parallel.zero = 1 (LLMRT_OPTIMIZER_WHOLE_TENSORS). Input errors (exit 2).
Status check_param_groups(const Spec& spec, const Registry& registry);

// The stage's parameters in flat order with their values, cut to the ranges optimizer calls cover.
class ParamTable {
 public:
  ParamTable() = default;
  ParamTable(std::vector<ParamEntry> entries, std::vector<ParamGroupValues> values);
  // The entries overlapping flat elements [offset, offset + count), each cut to it, with
  // buffer_offset counted from `offset`. Names point into this table.
  std::vector<llmrt_optimizer_param> range(std::size_t offset, std::size_t count) const;
  bool empty() const { return entries_.empty(); }
  // "38 tensors; no weight decay by default on 25 (1-D or flagged no-decay); 4 in param groups"
  std::string summary() const;

 private:
  std::vector<ParamEntry> entries_;  // by offset
  std::vector<ParamGroupValues> values_;
};

// The table of one stage's store under [train]: groups resolved (every pattern was checked
// against the whole model already), and a layout the planner gave zero = 1 refused for an
// optimizer that needs whole tensors.
Result<ParamTable> stage_param_table(const TrainSpec& train, const Registry& registry,
                                     const std::vector<ParamEntry>& entries, bool zero_sharded);

}  // namespace llmrt
