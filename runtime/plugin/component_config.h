// A component's config, from the keys the user wrote (ComponentSpec) to the typed llmrt_config
// its plugin receives: unknown keys refused with "did you mean", types checked, defaults filled.
#pragma once

#include <memory>

#include <llmrt/plugin.h>

#include "config/spec.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// The typed values of every declared key, in declaration order; owns what the C view points to.
class ResolvedConfig {
 public:
  struct Storage;
  explicit ResolvedConfig(std::unique_ptr<Storage> storage);
  ResolvedConfig(ResolvedConfig&&) noexcept;
  ResolvedConfig& operator=(ResolvedConfig&&) noexcept;
  ~ResolvedConfig();

  const llmrt_config* get() const;  // valid while this object lives

 private:
  std::unique_ptr<Storage> storage_;
};

// Checks `spec.params` against the component's declared keys and resolves every key.
// Errors name the config position, the component and the key.
Result<ResolvedConfig> resolve_component_config(const Component& component, const ComponentSpec& spec);

// Every key at its default (a component used without a config table, e.g. a schedule named by
// [parallel].schedule); fails when a key is required.
Result<ResolvedConfig> resolve_default_config(const Component& component);

// A declared default (a TOML literal) as a value of the key's type.
Result<ParamValue> parse_default_value(const ConfigKeyDecl& key);

std::string_view key_type_name(std::int32_t type);  // "int", "float list", ...

}  // namespace llmrt
