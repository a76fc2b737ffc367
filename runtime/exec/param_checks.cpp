#include "exec/param_checks.h"

#include <map>
#include <set>
#include <string>

#include <fmt/format.h>

#include "exec/model_layers.h"
#include "exec/param_store.h"

namespace llmrt {
namespace {

std::vector<std::int64_t> shape_of(const llmrt_param_spec& spec) {
  const int rank = spec.rank < 0 ? 0 : spec.rank > LLMRT_MAX_RANK ? LLMRT_MAX_RANK : spec.rank;
  return std::vector<std::int64_t>(spec.shape, spec.shape + rank);
}

Status check_one_spec(const llmrt_param_spec& spec, int tp_size, std::string_view owner) {
  const std::string name = spec.name ? spec.name : "";
  if (spec.rank < 0 || spec.rank > LLMRT_MAX_RANK) {
    return input_error("{}: parameter '{}' has rank {}: expected 0 to {} (LLMRT_MAX_RANK)", owner, name, spec.rank,
                       LLMRT_MAX_RANK);
  }
  const std::vector<std::int64_t> shape = shape_of(spec);
  for (int d = 0; d < spec.rank; ++d) {
    if (spec.shape[d] <= 0) {
      return input_error("{}: parameter '{}' has shape {}: dimension {} is {}, expected a positive extent", owner,
                         name, shape_text(shape), d, spec.shape[d]);
    }
  }
  if (spec.shard_dim == LLMRT_NO_SHARD) return Status::success();
  if (spec.shard_dim < 0 || spec.shard_dim >= spec.rank) {
    return input_error("{}: parameter '{}' (shape {}) has shard_dim {}: expected a dimension 0 to {} or "
                       "LLMRT_NO_SHARD ({})", owner, name, shape_text(shape), spec.shard_dim, spec.rank - 1,
                       LLMRT_NO_SHARD);
  }
  const std::int64_t extent = spec.shape[spec.shard_dim];
  if (extent % tp_size != 0) {
    return input_error("{}: parameter '{}' (shape {}) shards dimension {} = {}, which does not split into "
                       "tp = {} equal parts (choose a tp that divides it, or a shape that tp divides)",
                       owner, name, shape_text(shape), spec.shard_dim, extent, tp_size);
  }
  return Status::success();
}

}  // namespace

Status check_param_specs(const std::vector<llmrt_param_spec>& specs, int tp_size, std::string_view owner) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const llmrt_param_spec& spec = specs[i];
    if (spec.name == nullptr || spec.name[0] == '\0') {
      return input_error("{}: parameter {} of {} has no name", owner, i, specs.size());
    }
    if (!names.insert(spec.name).second) {
      return input_error("{}: parameter '{}' is declared twice (names are unique within a layer)", owner, spec.name);
    }
    LLMRT_RETURN_IF_ERROR(check_one_spec(spec, tp_size, owner));
  }
  return Status::success();
}

std::string describe_layer(const ModelSpec& model, const LayerSlot& slot) {
  const std::vector<LayerPlanEntry> entries = expand_layers(model);
  std::string where;
  if (slot.index >= 0 && static_cast<std::size_t>(slot.index) < entries.size()) {
    const auto spec = static_cast<std::size_t>(entries[static_cast<std::size_t>(slot.index)].spec_index);
    where = model.layers[spec].pos.describe() + ": ";
  }
  return fmt::format("{}layer {} (component '{}', plugin {})", where, slot.label, slot.component->name,
                     slot.component->plugin->path);
}

Status check_param_ties(const ModelSpec& model, const std::vector<LayerSlot>& slots) {
  struct First {
    const LayerSlot* slot;
    std::string param;
    std::vector<std::int64_t> shape;
  };
  std::map<std::string, First> ties;
  for (const LayerSlot& slot : slots) {
    for (const llmrt_param_spec& spec : slot.params) {
      if (spec.tie_name == nullptr) continue;
      auto [it, inserted] = ties.emplace(spec.tie_name, First{&slot, spec.name, shape_of(spec)});
      if (inserted || it->second.shape == shape_of(spec)) continue;
      const std::string other =
          it->second.slot == &slot
              ? fmt::format("its parameter '{}'", it->second.param)
              : fmt::format("parameter '{}' of {}", it->second.param, describe_layer(model, *it->second.slot));
      return input_error("{}: parameter '{}' is tied as '{}' with shape {}, but {} is tied as '{}' with shape {}: "
                         "tied parameters are one tensor and must have one shape", describe_layer(model, slot),
                         spec.name, spec.tie_name, shape_text(shape_of(spec)), other, spec.tie_name,
                         shape_text(it->second.shape));
    }
  }
  return Status::success();
}

}  // namespace llmrt
