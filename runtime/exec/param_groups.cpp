#include "exec/param_groups.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "exec/model_layers.h"

namespace llmrt {
namespace {

constexpr std::size_t kNamesShown = 6;

std::uint32_t optimizer_flags(const Component& optimizer) { return optimizer.optimizer().flags; }

// The optimizer's own weight_decay (0 when it declares none).
Result<double> optimizer_weight_decay(const Component& optimizer, const ComponentSpec& spec) {
  const bool declared = std::any_of(optimizer.keys.begin(), optimizer.keys.end(),
                                    [](const ConfigKeyDecl& key) { return key.name == "weight_decay"; });
  if (!declared) return 0.0;
  return component_number(optimizer, spec, "weight_decay");
}

std::string some_names(const std::vector<GroupedParam>& params) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < params.size() && i < kNamesShown; ++i) names.push_back(params[i].name);
  std::string text = fmt::format("{}", fmt::join(names, ", "));
  if (params.size() > kNamesShown) text += fmt::format(", ... ({} in all)", params.size());
  return text;
}

// Does `group` select `param`? Marks the patterns that match its name in `hits`.
bool selects(const ParamGroupSpec& group, const GroupedParam& param, std::vector<bool>& hits) {
  bool named = group.match.empty();
  for (std::size_t p = 0; p < group.match.size(); ++p) {
    if (glob_match(group.match[p], param.name)) named = hits[p] = true;
  }
  return named && (group.ndim == 0 || group.ndim == param.ndim);
}

Status check_every_group_selects(const std::vector<ParamGroupSpec>& groups, const std::vector<GroupedParam>& params,
                                 const std::vector<std::vector<bool>>& hits, const std::vector<int>& selected) {
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (std::size_t p = 0; p < groups[g].match.size(); ++p) {
      if (hits[g][p]) continue;
      return input_error("{}.match: pattern \"{}\" matches no parameter of the model (its parameters: {}; `*` "
                         "matches any characters, `?` one)",
                         groups[g].pos.describe(), groups[g].match[p], some_names(params));
    }
    if (selected[g] == 0) {
      return input_error("{}: selects no parameter: no {}-D parameter{} (its parameters: {})", groups[g].pos.describe(),
                         groups[g].ndim, groups[g].match.empty() ? "" : " matches its patterns", some_names(params));
    }
  }
  return Status::success();
}

ParamGroupValues values_of(const std::vector<ParamGroupSpec>& groups, int group, const GroupedParam& param,
                           double optimizer_weight_decay) {
  ParamGroupValues values;
  values.no_decay = param.no_decay;
  values.group = group;
  values.weight_decay = param.no_decay ? 0.0 : optimizer_weight_decay;
  if (group < 0) return values;
  const ParamGroupSpec& spec = groups[static_cast<std::size_t>(group)];
  values.lr_scale = spec.lr_scale.value_or(1.0);
  if (spec.weight_decay) values.weight_decay = *spec.weight_decay;
  return values;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p, ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++, resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1, n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<std::vector<ParamGroupValues>> resolve_param_groups(const std::vector<ParamGroupSpec>& groups,
                                                           const std::vector<GroupedParam>& params,
                                                           double optimizer_weight_decay, bool every_pattern_matches) {
  std::vector<std::vector<bool>> hits;
  for (const ParamGroupSpec& group : groups) hits.emplace_back(group.match.size(), false);
  std::vector<int> selected(groups.size(), 0);
  std::vector<ParamGroupValues> values;
  for (const GroupedParam& param : params) {
    int chosen = -1;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (!selects(groups[g], param, hits[g])) continue;
      ++selected[g];
      if (chosen >= 0) {
        return input_error("{}: parameter '{}' is also in {}: param groups must not overlap (each parameter takes "
                           "one group's values; narrow a `match` or `ndim`)",
                           groups[g].pos.describe(), param.name,
                           groups[static_cast<std::size_t>(chosen)].pos.describe());
      }
      chosen = static_cast<int>(g);
    }
    values.push_back(values_of(groups, chosen, param, optimizer_weight_decay));
  }
  if (every_pattern_matches) LLMRT_RETURN_IF_ERROR(check_every_group_selects(groups, params, hits, selected));
  return values;
}

Status check_param_groups(const Spec& spec, const Registry& registry) {
  const TrainSpec& train = spec.train;
  LLMRT_ASSIGN_OR_RETURN(const Component* optimizer,
                         registry.lookup(train.optimizer.component.value, LLMRT_KIND_OPTIMIZER,
                                         train.optimizer.component.pos.describe()));
  const std::uint32_t flags = optimizer_flags(*optimizer);
  if ((flags & LLMRT_OPTIMIZER_WHOLE_TENSORS) != 0 && spec.parallel.zero.value == 1) {
    return input_error("{}: parallel.zero = 1 hands the optimizer pieces of tensors, but optimizer '{}' (plugin {}) "
                       "needs whole tensors (LLMRT_OPTIMIZER_WHOLE_TENSORS); expected parallel.zero = 0",
                       spec.parallel.zero.pos.describe(), optimizer->name, optimizer->plugin->path);
  }
  if (train.param_groups.empty()) return Status::success();
  if ((flags & LLMRT_OPTIMIZER_PARAM_GROUPS) == 0) {
    return input_error("{}: optimizer '{}' (plugin {}) does not apply param groups (its table lacks "
                       "LLMRT_OPTIMIZER_PARAM_GROUPS): their lr_scale and weight_decay would be ignored",
                       train.param_groups.front().pos.describe(), optimizer->name, optimizer->plugin->path);
  }
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  const int layer_count = static_cast<int>(expand_layers(spec.model).size());
  LLMRT_ASSIGN_OR_RETURN(const auto layers, create_layers(spec.model, registry, 0, layer_count, context));
  std::vector<GroupedParam> params;
  std::map<std::string, bool> seen;
  for (const LayerSlot& slot : layers) {
    for (const llmrt_param_spec& param : slot.params) {
      std::string name = param_entry_name(slot, param);
      if (!seen.emplace(name, true).second) continue;  // a tie's second declaration
      const bool flagged = (param_spec_flags(param) & LLMRT_PARAM_NO_DECAY) != 0;
      params.push_back({std::move(name), param.rank, flagged || param.rank == 1});
    }
  }
  LLMRT_ASSIGN_OR_RETURN(const double decay, optimizer_weight_decay(*optimizer, train.optimizer));
  auto resolved = resolve_param_groups(train.param_groups, params, decay, true);
  return resolved.ok() ? Status::success() : Status(resolved.error());
}

ParamTable::ParamTable(std::vector<ParamEntry> entries, std::vector<ParamGroupValues> values) {
  std::vector<std::size_t> order(entries.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return entries[a].offset < entries[b].offset; });
  for (std::size_t i : order) {
    entries_.push_back(std::move(entries[i]));
    values_.push_back(values[i]);
  }
}

std::vector<llmrt_optimizer_param> ParamTable::range(std::size_t offset, std::size_t count) const {
  std::vector<llmrt_optimizer_param> out;
  const std::size_t end = offset + count;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const ParamEntry& entry = entries_[i];
    const std::size_t first = std::max(entry.offset, offset), last = std::min(entry.offset + entry.count, end);
    if (first >= last) continue;
    const ParamGroupValues& values = values_[i];
    llmrt_optimizer_param param{};
    param.struct_size = sizeof(param);
    param.name = entry.name.c_str();
    param.tie_name = entry.tied ? entry.name.c_str() : nullptr;
    param.layer_index = entry.layer;
    param.rank = static_cast<std::int32_t>(entry.local_shape.size());
    std::copy(entry.local_shape.begin(), entry.local_shape.end(), param.shape);
    param.shard_dim = entry.shard_dim;
    param.flags = values.no_decay ? LLMRT_PARAM_NO_DECAY : 0u;
    param.numel = static_cast<std::int64_t>(entry.count);
    param.tensor_offset = static_cast<std::int64_t>(first - entry.offset);
    param.count = static_cast<std::int64_t>(last - first);
    param.buffer_offset = static_cast<std::int64_t>(first - offset);
    param.lr_scale = values.lr_scale;
    param.weight_decay = values.weight_decay;
    param.group = values.group;
    out.push_back(param);
  }
  return out;
}

std::string ParamTable::summary() const {
  const auto no_decay = std::count_if(values_.begin(), values_.end(), [](const ParamGroupValues& v) { return v.no_decay; });
  const auto grouped = std::count_if(values_.begin(), values_.end(), [](const ParamGroupValues& v) { return v.group >= 0; });
  return fmt::format("{} tensors; no weight decay by default on {} (1-D or flagged no-decay); {} in param groups",
                     entries_.size(), no_decay, grouped);
}

Result<ParamTable> stage_param_table(const TrainSpec& train, const Registry& registry,
                                     const std::vector<ParamEntry>& entries, bool zero_sharded) {
  LLMRT_ASSIGN_OR_RETURN(const Component* optimizer,
                         registry.lookup(train.optimizer.component.value, LLMRT_KIND_OPTIMIZER,
                                         train.optimizer.component.pos.describe()));
  if (zero_sharded && (optimizer_flags(*optimizer) & LLMRT_OPTIMIZER_WHOLE_TENSORS) != 0) {
    return input_error("the layout shards the optimizer state (zero 1, chosen by the planner), but optimizer '{}' "
                       "(plugin {}) needs whole tensors (LLMRT_OPTIMIZER_WHOLE_TENSORS): set parallel.zero = 0",
                       optimizer->name, optimizer->plugin->path);
  }
  std::vector<GroupedParam> params;
  for (const ParamEntry& entry : entries) {
    const int ndim = static_cast<int>(entry.global_shape.size());
    params.push_back({entry.name, ndim, entry.no_decay || ndim == 1});
  }
  LLMRT_ASSIGN_OR_RETURN(const double decay, optimizer_weight_decay(*optimizer, train.optimizer));
  LLMRT_ASSIGN_OR_RETURN(auto values, resolve_param_groups(train.param_groups, params, decay, false));
  return ParamTable(entries, std::move(values));
}

}  // namespace llmrt
