// Validation of component descriptors at registration: a plugin that gets any of this wrong is
// refused before the runtime calls into it, with the field, what was expected and what was found.
#include "plugin/component_checks.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "plugin/component_config.h"

namespace llmrt {
namespace {

struct Slot {
  const char* name;
  std::size_t offset;
};

// The size every table of a kind must have (through its last required slot) and those slots.
struct KindRules {
  std::size_t min_size;
  std::vector<Slot> required;
};

#define LLMRT_SLOT(T, f) Slot{#f, offsetof(T, f)}

KindRules rules_for(std::int32_t kind, std::uint32_t layer_flags) {
  switch (kind) {
    case LLMRT_KIND_LAYER: {
      using T = llmrt_layer_vtable;
      KindRules rules{LLMRT_STRUCT_SIZE(T, backward_weight),
                      {LLMRT_SLOT(T, create), LLMRT_SLOT(T, destroy), LLMRT_SLOT(T, infer_shapes),
                       LLMRT_SLOT(T, param_specs), LLMRT_SLOT(T, forward), LLMRT_SLOT(T, backward_input)}};
      if ((layer_flags & LLMRT_LAYER_FUSED_BACKWARD) == 0) rules.required.push_back(LLMRT_SLOT(T, backward_weight));
      return rules;
    }
    case LLMRT_KIND_OPTIMIZER: {
      using T = llmrt_optimizer_vtable;
      return {LLMRT_STRUCT_SIZE(T, step), {LLMRT_SLOT(T, create), LLMRT_SLOT(T, destroy), LLMRT_SLOT(T, step)}};
    }
    case LLMRT_KIND_LR_SCHEDULE: {
      using T = llmrt_lr_schedule_vtable;
      return {LLMRT_STRUCT_SIZE(T, lr_at), {LLMRT_SLOT(T, create), LLMRT_SLOT(T, destroy), LLMRT_SLOT(T, lr_at)}};
    }
    default: {
      using T = llmrt_pipeline_schedule_vtable;
      return {LLMRT_STRUCT_SIZE(T, actions), {LLMRT_SLOT(T, actions)}};
    }
  }
}

#undef LLMRT_SLOT

Status check_vtable(const Component& component, const void* vtable) {
  const std::size_t size = *static_cast<const std::size_t*>(vtable);
  std::uint32_t flags = 0;
  if (component.kind == LLMRT_KIND_LAYER && size >= LLMRT_STRUCT_SIZE(llmrt_layer_vtable, flags)) {
    flags = static_cast<const llmrt_layer_vtable*>(vtable)->flags;
  }
  const KindRules rules = rules_for(component.kind, flags);
  if (size < rules.min_size) {
    return input_error("{} '{}': vtable.struct_size: expected at least {}, found {}", kind_name(component.kind),
                       component.name, rules.min_size, size);
  }
  for (const Slot& slot : rules.required) {
    const void* function = *reinterpret_cast<const void* const*>(static_cast<const char*>(vtable) + slot.offset);
    if (function == nullptr) {
      return input_error("{} '{}': vtable.{}: expected a function, found NULL (the slot is required)",
                         kind_name(component.kind), component.name, slot.name);
    }
  }
  return Status::success();
}

Result<ConfigKeyDecl> check_key(const Component& component, const llmrt_config_key* key, std::size_t index) {
  const std::string where = fmt::format("{} '{}': keys[{}]", kind_name(component.kind), component.name, index);
  if (key->struct_size < LLMRT_STRUCT_SIZE(llmrt_config_key, doc)) {
    return input_error("{}.struct_size: expected at least {}, found {}", where,
                       LLMRT_STRUCT_SIZE(llmrt_config_key, doc), key->struct_size);
  }
  if (key->name == nullptr || key->name[0] == '\0') return input_error("{}.name: expected a name, found none", where);
  if (key->type < LLMRT_KEY_BOOL || key->type > LLMRT_KEY_STRING_LIST) {
    return input_error("{} ('{}').type: expected 1..7 (llmrt_key_type), found {}", where, key->name, key->type);
  }
  ConfigKeyDecl decl;
  decl.name = key->name;
  decl.type = static_cast<llmrt_key_type>(key->type);
  if (key->default_value != nullptr) decl.default_value = key->default_value;
  decl.doc = key->doc != nullptr ? key->doc : "";
  if (decl.default_value) {
    LLMRT_RETURN_IF_ERROR_CTX(parse_default_value(decl), "{} ('{}').default_value", where, key->name);
  }
  return decl;
}

}  // namespace

std::string_view kind_name(std::int32_t kind) {
  switch (kind) {
    case LLMRT_KIND_LAYER: return "layer";
    case LLMRT_KIND_OPTIMIZER: return "optimizer";
    case LLMRT_KIND_LR_SCHEDULE: return "lr_schedule";
    case LLMRT_KIND_PIPELINE_SCHEDULE: return "pipeline_schedule";
    default: return "unknown kind";
  }
}

Result<Component> check_component(const llmrt_component_desc* desc, const LoadedPlugin& plugin) {
  if (desc == nullptr) return input_error("component descriptor: expected a pointer, found NULL");
  if (desc->struct_size < LLMRT_STRUCT_SIZE(llmrt_component_desc, vtable)) {
    return input_error("component descriptor.struct_size: expected at least {}, found {}",
                       LLMRT_STRUCT_SIZE(llmrt_component_desc, vtable), desc->struct_size);
  }
  if (desc->name == nullptr || desc->name[0] == '\0') return input_error("component descriptor.name: expected a name, found none");
  Component component;
  component.name = desc->name;
  if (desc->kind < LLMRT_KIND_LAYER || desc->kind > LLMRT_KIND_PIPELINE_SCHEDULE) {
    return input_error("component '{}'.kind: expected 1..4 (llmrt_component_kind), found {}", component.name, desc->kind);
  }
  component.kind = static_cast<llmrt_component_kind>(desc->kind);
  if (desc->version == nullptr || desc->version[0] == '\0') {
    return input_error("{} '{}'.version: expected a version string, found none", kind_name(component.kind), component.name);
  }
  component.version = desc->version;
  component.doc = desc->doc != nullptr ? desc->doc : "";
  component.plugin = &plugin;
  if (desc->vtable == nullptr) {
    return input_error("{} '{}'.vtable: expected a function table, found NULL", kind_name(component.kind), component.name);
  }
  LLMRT_RETURN_IF_ERROR(check_vtable(component, desc->vtable));
  // Checked through its last required slot; from here on only the host's copy is read.
  component.vtable = copy_vtable(component.kind, desc->vtable);
  component.plugin_vtable_size = *static_cast<const std::size_t*>(desc->vtable);
  if (desc->key_count > 0 && desc->keys == nullptr) {
    return input_error("{} '{}'.keys: expected {} keys, found NULL", kind_name(component.kind), component.name, desc->key_count);
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < desc->key_count; ++i) {
    LLMRT_ASSIGN_OR_RETURN(auto key, check_key(component, &desc->keys[i], i));
    if (!seen.insert(key.name).second) {
      return input_error("{} '{}': config key '{}' is declared twice", kind_name(component.kind), component.name,
                         key.name);
    }
    component.keys.push_back(std::move(key));
  }
  return component;
}

}  // namespace llmrt
