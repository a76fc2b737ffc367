#include "plugtest/plugin_test_command.h"

#include <charconv>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "comm/process_groups.h"
#include "plan/layout.h"
#include "plugin/component_config.h"
#include "plugtest/layer_suite.h"
#include "plugtest/optimizer_checks.h"
#include "util/strings.h"

namespace llmrt {
namespace {

using plugtest::PluginTestOptions;

// Test values of the keys a model fills in for a layer, when --set does not give them: small
// and odd-sized, so that a transposed index or a wrong stride shows.
constexpr std::int64_t kDefaultWidth = 24;  // d_model: divides by 1, 2, 3, 4, 6, 8 heads and tp
constexpr std::int64_t kDefaultVocab = 37;

Result<std::pair<std::int64_t, std::int64_t>> parse_shape(const std::string& text) {
  if (text.empty()) return std::pair<std::int64_t, std::int64_t>{2, 5};
  const auto comma = text.find(',');
  std::int64_t b = 0, t = 0;
  auto parse = [](std::string_view s, std::int64_t& v) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && end == s.data() + s.size() && v > 0;
  };
  if (comma == std::string::npos || !parse(std::string_view(text).substr(0, comma), b) ||
      !parse(std::string_view(text).substr(comma + 1), t)) {
    return input_error("plugins test: --shape '{}': expected B,T (microbatch sequences and tokens per sequence, two "
                       "positive integers), e.g. --shape 2,5", text);
  }
  return std::pair{b, t};
}

// --set key=value for the component's declared keys, each parsed as its declared type.
Result<ComponentSpec> component_spec(const Component& component, const std::vector<std::string>& sets) {
  ComponentSpec spec;
  spec.component.value = component.name;
  std::vector<std::string> names;
  for (const ConfigKeyDecl& key : component.keys) names.push_back(key.name);
  for (const std::string& set : sets) {
    const auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      return input_error("plugins test: --set '{}': expected key=value, a key of {} '{}'", set,
                         kind_name(component.kind), component.name);
    }
    const std::string name = set.substr(0, eq);
    const ConfigKeyDecl* declared = nullptr;
    for (const ConfigKeyDecl& key : component.keys) declared = key.name == name ? &key : declared;
    if (declared == nullptr) {
      const std::string suggestion = closest_match(name, names);
      return input_error("plugins test: --set {}: '{}' declares no key '{}'{} (its keys: {})", set, component.name,
                         name, suggestion.empty() ? "" : fmt::format(" (did you mean '{}'?)", suggestion),
                         names.empty() ? "none" : join(names, ", "));
    }
    ConfigKeyDecl literal = *declared;
    literal.default_value = set.substr(eq + 1);
    LLMRT_ASSIGN_OR_RETURN_CTX(ParamValue value, parse_default_value(literal), "plugins test: --set {}", set);
    spec.params[name] = Located<ParamValue>{std::move(value), SourcePos{"--set", 0, 0, name}};
  }
  return spec;
}

bool declares(const Component& component, const std::string& name) {
  for (const ConfigKeyDecl& key : component.keys) {
    if (key.name == name) return true;
  }
  return false;
}

// d_model, vocab_size, seq_len as a model would fill them; returns the value used for `name`.
std::int64_t fill_model_key(ComponentSpec& spec, const Component& component, const std::string& name,
                            std::int64_t fallback) {
  auto it = spec.params.find(name);
  if (it != spec.params.end()) {
    return std::holds_alternative<std::int64_t>(it->second.value) ? std::get<std::int64_t>(it->second.value) : fallback;
  }
  if (declares(component, name)) spec.params[name] = Located<ParamValue>{ParamValue(fallback), SourcePos{"plugins test", 0, 0, name}};
  return fallback;
}

void print_header(const Component& component, const World& world, std::ostream& out) {
  if (world.rank() != 0) return;
  out << fmt::format("plugins test {} ({} from {})\n", component.name, kind_name(component.kind), component.plugin->path);
}

Status test_layer(const Component& component, ComponentSpec spec, const PluginTestOptions& options,
                  const World& world, plugtest::CheckReport& report, std::ostream& out) {
  LLMRT_ASSIGN_OR_RETURN(const auto shape, parse_shape(options.shape));
  plugtest::LayerTestSetup setup;
  setup.component = &component;
  setup.batch = shape.first, setup.seq = shape.second;
  setup.width = fill_model_key(spec, component, "d_model", kDefaultWidth);
  setup.vocab = fill_model_key(spec, component, "vocab_size", kDefaultVocab);
  fill_model_key(spec, component, "seq_len", setup.seq);
  setup.seed = options.seed;
  setup.dtype = options.dtype == "bf16" ? LLMRT_DTYPE_BF16 : LLMRT_DTYPE_F32;
  LLMRT_ASSIGN_OR_RETURN_CTX(const ResolvedConfig config, resolve_component_config(component, spec),
                             "plugins test {} (its own keys come from --set key=value)", component.name);
  setup.config = &config;
  if (setup.dtype == LLMRT_DTYPE_BF16) LLMRT_RETURN_IF_ERROR(plugtest::check_bf16_supported(setup));
  print_header(component, world, out);
  std::unique_ptr<ProcessGroups> groups;
  if (options.tp > 1) {
    Layout layout;
    layout.tp = options.tp;
    LLMRT_ASSIGN_OR_RETURN(groups, ProcessGroups::create(layout, world.rank(), world.launched(), {}));
    setup.tp_size = options.tp;
    setup.tp_rank = groups->coords().tp;
    setup.tp_comm = groups->tensor_parallel_handle();
  }
  setup.world = &world;
  return plugtest::run_layer_checks(setup, report);
}

Status test_optimizer(const Component& component, const ComponentSpec& spec, const PluginTestOptions& options,
                      const World& world, plugtest::CheckReport& report, std::ostream& out) {
  LLMRT_ASSIGN_OR_RETURN_CTX(const ResolvedConfig config, resolve_component_config(component, spec),
                             "plugins test {} (its own keys come from --set key=value)", component.name);
  print_header(component, world, out);
  plugtest::OptimizerTestSetup setup;
  setup.component = &component;
  setup.config = &config;
  setup.seed = options.seed;
  return plugtest::run_optimizer_checks(setup, report);
}

Status check_options(const PluginTestOptions& options, const Component& component, const World& world) {
  if (options.dtype != "f32" && options.dtype != "bf16") {
    return input_error("plugins test: --dtype {}: expected f32 or bf16 (f16 is not checked yet)", options.dtype);
  }
  if (options.dtype == "bf16" && component.kind != LLMRT_KIND_LAYER) {
    return input_error("plugins test: --dtype applies to layers; '{}' is a {}", component.name,
                       kind_name(component.kind));
  }
  if (options.tp < 1) return input_error("plugins test: --tp {}: expected a positive integer", options.tp);
  if (options.tp != world.size()) {
    return input_error("plugins test: --tp {} runs on {} rank{} (one per tp rank), this is {}: run `mpirun -np {} "
                       "llmrt plugins test {} --tp {}`", options.tp, options.tp, options.tp == 1 ? "" : "s",
                       world.size(), options.tp, options.name, options.tp);
  }
  if (options.tp > 1 && component.kind != LLMRT_KIND_LAYER) {
    return input_error("plugins test: --tp applies to layers; '{}' is a {}", component.name, kind_name(component.kind));
  }
  return Status::success();
}

Result<const Component*> find_component(const Registry& registry, const std::string& name) {
  if (const Component* component = registry.find(name)) return component;
  std::vector<std::string> names;
  for (const Component* c : registry.components()) names.push_back(c->name);
  const std::string suggestion = closest_match(name, names);
  return input_error("plugins test: no component named '{}' on the plugin search path{} (`llmrt plugins list` "
                     "shows them; --plugin FILE adds a plugin file)", name,
                     suggestion.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", suggestion));
}

}  // namespace

Status plugin_test_command(const PluginTestOptions& options, const std::vector<std::string>& sets,
                           PluginSearchOptions search, const World& world, std::ostream& out) {
  for (const std::string& file : options.plugin_files) {
    std::error_code error;
    if (!std::filesystem::exists(file, error)) {
      return input_error("plugins test: --plugin {}: no such file or folder (expected a plugin .so or a folder of them)",
                         file);
    }
    search.config_paths.push_back(std::filesystem::absolute(file).lexically_normal().string());
  }
  LLMRT_ASSIGN_OR_RETURN(const Registry registry, load_plugins(search));
  LLMRT_ASSIGN_OR_RETURN(const Component* component, find_component(registry, options.name));
  LLMRT_RETURN_IF_ERROR(check_options(options, *component, world));
  LLMRT_ASSIGN_OR_RETURN(ComponentSpec spec, component_spec(*component, sets));
  LLMRT_RETURN_IF_ERROR(parse_shape(options.shape));
  plugtest::CheckReport report(world.rank() == 0 ? &out : nullptr);
  if (component->kind == LLMRT_KIND_LAYER) {
    LLMRT_RETURN_IF_ERROR(test_layer(*component, std::move(spec), options, world, report, out));
  } else if (component->kind == LLMRT_KIND_OPTIMIZER) {
    LLMRT_RETURN_IF_ERROR(test_optimizer(*component, spec, options, world, report, out));
  } else {
    return input_error("plugins test: '{}' is a {}; plugins test checks layers and optimizers",
                       component->name, kind_name(component->kind));
  }
  if (report.failed().empty()) {
    if (world.rank() == 0) out << fmt::format("verdict: PASS ({} checks)\n", report.checks());
    return Status::success();
  }
  if (world.rank() == 0) {
    out << fmt::format("verdict: FAIL ({} of {} checks: {})\n", report.failed().size(), report.checks(),
                       join(report.failed(), ", "));
  }
  return runtime_error("plugins test {}: {} of {} checks failed: {}", component->name, report.failed().size(),
                       report.checks(), join(report.failed(), ", "));
}

}  // namespace llmrt
