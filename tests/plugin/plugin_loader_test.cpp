// Hostile plugins against the loader: each real .so (tests/plugin/hostile/) must be refused with
// one specific message and an input error, and leave nothing of itself registered.
#define BOOST_TEST_MODULE plugin_loader
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "plugin/component_config.h"
#include "plugin/host_tensors.h"
#include "plugin/plugin_calls.h"
#include "plugin/plugin_loader.h"
#include "plugin/plugin_search.h"
#include "support/process.h"

namespace fs = std::filesystem;
using llmrt::ErrorKind;
using llmrt::LoadOptions;
using llmrt::Registry;

namespace {

std::string fixture(const std::string& variant) {
  for (const auto& entry : fs::directory_iterator(std::string(PLUGIN_FIXTURE_DIR) + "/" + variant)) {
    if (entry.path().extension() == ".so") return entry.path().string();
  }
  BOOST_FAIL("fixture " << variant << " was not built");
  return "";
}

// Loads `path` into `registry`, expects an input error whose message holds every part.
void expect_refused(Registry& registry, const std::string& path, std::initializer_list<std::string> parts,
                    const LoadOptions& options = {}) {
  const llmrt::Status status = llmrt::load_plugin_file(registry, path, options);
  BOOST_REQUIRE_MESSAGE(!status.ok(), "expected " << path << " to be refused");
  BOOST_TEST(static_cast<int>(status.error().kind()) == static_cast<int>(ErrorKind::kInput));
  const std::string& message = status.error().message();
  BOOST_TEST_MESSAGE(message);
  BOOST_TEST(message.find("plugin ") == 0u, message);
  for (const std::string& part : parts) BOOST_TEST(message.find(part) != std::string::npos, "'" << part << "' in: " << message);
}

// A c.scale layer (tests/plugin/hostile/c_layer.c) with d_model = 3.
llmrt::ComponentInstance create_scale(const llmrt::Component& component) {
  llmrt::ComponentSpec spec;
  spec.component.value = component.name;
  spec.params["d_model"] = llmrt::Located<llmrt::ParamValue>{std::int64_t{3}, {}};
  auto config = llmrt::resolve_component_config(component, spec);
  BOOST_REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error().message()));
  auto instance = llmrt::create_layer(component, *config, {sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0});
  BOOST_REQUIRE_MESSAGE(instance.ok(), (instance.ok() ? "" : instance.error().message()));
  return std::move(*instance);
}

// c.scale's forward through the argument struct: y = x * w over C = 3; x: (1, 2, 3).
void expect_scale_forward(const llmrt::ComponentInstance& layer) {
  std::vector<float> x = {0.5f, -1.f, 2.f, 3.f, 0.25f, -4.f}, w = {2.f, 3.f, -1.f}, y(6, 0.f);
  llmrt_tensor in = llmrt::host_tensor(x.data(), LLMRT_DTYPE_F32, {1, 2, 3});
  llmrt_tensor out = llmrt::host_tensor(y.data(), LLMRT_DTYPE_F32, {1, 2, 3});
  llmrt_tensor p = llmrt::host_tensor(w.data(), LLMRT_DTYPE_F32, {3});
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {LLMRT_DEVICE_CPU, 0};
  ctx.tp_size = 1;
  const llmrt::Status done = llmrt::layer_forward(layer, ctx, {.in = {&in, 1}, .params = {&p, 1}, .out = {&out, 1}},
                                                  "forward");
  BOOST_REQUIRE_MESSAGE(done.ok(), (done.ok() ? "" : done.error().message()));
  for (int i = 0; i < 6; ++i) BOOST_TEST(y[i] == x[i] * w[i % 3]);
}

void expect_refused(const std::string& path, std::initializer_list<std::string> parts) {
  Registry registry;
  expect_refused(registry, path, parts);
  BOOST_TEST(registry.components().empty());
  BOOST_TEST(registry.plugins().empty());
}

}  // namespace

BOOST_AUTO_TEST_CASE(good_c_plugin_registers_its_component) {
  Registry registry;
  const llmrt::Status status = llmrt::load_plugin_file(registry, fixture("c_good"), {});
  BOOST_REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message()));
  const llmrt::Component* component = registry.find("c.single_good");
  BOOST_REQUIRE(component != nullptr);
  BOOST_TEST(component->kind == LLMRT_KIND_PIPELINE_SCHEDULE);
  BOOST_TEST(component->version == "0.1.0");
  BOOST_TEST(component->plugin->build_id == "c-build-1");
  BOOST_TEST(component->keys.size() == 2u);
  // Loading the same file again is a no-op, not a duplicate.
  BOOST_TEST(llmrt::load_plugin_file(registry, fixture("c_good"), {}).ok());
  BOOST_TEST(registry.plugins().size() == 1u);
}

BOOST_AUTO_TEST_CASE(missing_path) {
  expect_refused(std::string(PLUGIN_FIXTURE_DIR) + "/nowhere/absent.so", {"absent.so", "file not found"});
}

BOOST_AUTO_TEST_CASE(text_file_named_so_is_not_elf) {
  llmrt::test::TempDir dir("plugin_not_elf");
  const std::string path = dir.write("x.so", "this is not a shared object\n");
  ::chmod(path.c_str(), 0644);
  expect_refused(path, {"x.so", "not an ELF shared object", "7f454c46", "found '74686973'"});
}

BOOST_AUTO_TEST_CASE(no_entry_symbol) {
  expect_refused(fixture("c_no_entry"), {"entry symbol llmrt_plugin_entry_v1", "not an llmrt plugin"});
}

BOOST_AUTO_TEST_CASE(future_major_version) {
  expect_refused(fixture("c_future_major"),
                 {"ABI major: expected 1", "found 2 (symbol llmrt_plugin_entry_v2)", "rebuild"});
}

BOOST_AUTO_TEST_CASE(wrong_magic) {
  expect_refused(fixture("c_wrong_magic"), {"identity.magic: expected 0x4C4C5254, found 0xDEADBEEF"});
}

BOOST_AUTO_TEST_CASE(identity_smaller_than_the_host_needs) {
  expect_refused(fixture("c_small_identity"), {"identity.struct_size: expected at least", "found 16"});
}

BOOST_AUTO_TEST_CASE(newer_minor_loads_when_it_needs_nothing_new) {
  Registry registry;
  const llmrt::Status status = llmrt::load_plugin_file(registry, fixture("c_newer_minor_ok"), {});
  BOOST_REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message()));
  BOOST_TEST(registry.plugins().at(0)->abi_minor == LLMRT_ABI_MINOR + 3);
}

BOOST_AUTO_TEST_CASE(newer_minor_that_needs_a_newer_host) {
  const std::string path = fixture("c_needs_newer_host");
  // The fixture asks for this host's minor + 2 (hostile/c_plugin.c, FAULT_NEEDS_NEWER_HOST).
  expect_refused(path, {path, "identity.min_host_minor: expected at most " + std::to_string(LLMRT_ABI_MINOR),
                        "found " + std::to_string(LLMRT_ABI_MINOR + 2), "needs a newer llmrt"});
}

// An older minor's table: struct_size stops after backward_weight. Behind it the plugin's static
// data holds functions that fail; the host's zero-filled copy must read those slots as NULL.
BOOST_AUTO_TEST_CASE(short_vtable_reads_absent_slots_as_null) {
  Registry registry;
  const llmrt::Status status = llmrt::load_plugin_file(registry, fixture("c_layer_short_vtable"), {});
  BOOST_REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message()));
  const llmrt::Component* layer = registry.find("c.scale_short");
  BOOST_REQUIRE(layer != nullptr);
  BOOST_TEST(layer->plugin_vtable_size == LLMRT_STRUCT_SIZE(llmrt_layer_vtable, backward_weight));
  BOOST_TEST(layer->layer().struct_size == sizeof(llmrt_layer_vtable));
  BOOST_TEST(layer->layer().backward_weight != nullptr);
  BOOST_TEST(layer->layer().cost_hints == nullptr);
  BOOST_TEST(layer->layer().saved_bytes == nullptr);
  BOOST_TEST(layer->layer().supports == nullptr);
  // Through the calls: each absent slot's documented default, not the poison's error.
  auto instance = create_scale(*layer);
  auto hints = llmrt::layer_cost_hints(instance, 2, 5);
  BOOST_REQUIRE_MESSAGE(hints.ok(), (hints.ok() ? "" : hints.error().message()));
  BOOST_TEST(hints->forward_flops == 0.0);
  auto saved = llmrt::layer_saved_bytes(instance, 2, 5);
  BOOST_REQUIRE_MESSAGE(saved.ok(), (saved.ok() ? "" : saved.error().message()));
  BOOST_TEST(*saved == 0u);
  BOOST_TEST(*llmrt::layer_supports(instance, LLMRT_DEVICE_CPU, LLMRT_DTYPE_F32) == "");
  BOOST_TEST(llmrt::layer_supports(instance, LLMRT_DEVICE_CUDA, LLMRT_DTYPE_F32)->find("CPU with f32") !=
             std::string::npos);
  expect_scale_forward(instance);
}

// A future minor (abi_minor + 3, min_host_minor 0) whose table has two slots this host does not
// know: it loads, the host's copy stops at its own size, and the layer runs.
BOOST_AUTO_TEST_CASE(newer_minor_with_a_longer_vtable_loads_and_runs) {
  Registry registry;
  const llmrt::Status status = llmrt::load_plugin_file(registry, fixture("c_layer_longer_vtable"), {});
  BOOST_REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message()));
  BOOST_TEST(registry.plugins().at(0)->abi_minor == LLMRT_ABI_MINOR + 3);
  const llmrt::Component* layer = registry.find("c.scale_longer");
  BOOST_REQUIRE(layer != nullptr);
  BOOST_TEST(layer->plugin_vtable_size == sizeof(llmrt_layer_vtable) + 2 * sizeof(void*));
  BOOST_TEST(layer->layer().struct_size == sizeof(llmrt_layer_vtable));
  BOOST_TEST(layer->layer().cost_hints == nullptr);  // NULL in its known part; the appended slots are unread
  auto instance = create_scale(*layer);
  auto hints = llmrt::layer_cost_hints(instance, 2, 5);
  BOOST_REQUIRE_MESSAGE(hints.ok(), (hints.ok() ? "" : hints.error().message()));
  expect_scale_forward(instance);
}

BOOST_AUTO_TEST_CASE(null_required_slot_and_rollback) {
  // The plugin registered c.single_null_slot first; the failed layer must take it down too.
  expect_refused(fixture("c_null_slot"), {"layer 'c.broken_layer'", "vtable.forward", "found NULL"});
}

BOOST_AUTO_TEST_CASE(registration_returning_an_error) {
  expect_refused(fixture("c_register_error"), {"registration failed", "cannot read the license file /etc/acme.lic"});
}

BOOST_AUTO_TEST_CASE(registration_that_throws) {
  expect_refused(fixture("throwing"), {"registration failed", "cannot open the tuning table /nonexistent/tuning.json"});
}

BOOST_AUTO_TEST_CASE(failed_plugin_leaves_earlier_plugins_alone) {
  Registry registry;
  BOOST_REQUIRE(llmrt::load_plugin_file(registry, fixture("c_good"), {}).ok());
  expect_refused(registry, fixture("c_register_error"), {"registration failed"});
  BOOST_TEST(registry.find("c.single_register_error") == nullptr);
  BOOST_TEST(registry.find("c.single_good") != nullptr);
  BOOST_TEST(registry.plugins().size() == 1u);
}

BOOST_AUTO_TEST_CASE(two_plugins_with_one_component_name) {
  Registry registry;
  const std::string first = fixture("cpp_a");
  const std::string second = fixture("cpp_b");
  BOOST_REQUIRE(llmrt::load_plugin_file(registry, first, {}).ok());
  expect_refused(registry, second, {second, "component 'test.", "already registered by " + first});
  BOOST_TEST(registry.find("test.scale")->plugin->path == first);
  BOOST_TEST(registry.plugins().size() == 1u);
}

BOOST_AUTO_TEST_CASE(file_writable_by_others) {
  llmrt::test::TempDir dir("plugin_insecure_file");
  fs::create_directories(dir.path() + "/plugins");
  ::chmod((dir.path() + "/plugins").c_str(), 0755);
  const std::string copy = dir.path() + "/plugins/good.so";
  fs::copy_file(fixture("c_good"), copy);
  ::chmod(copy.c_str(), 0666);
  Registry registry;
  expect_refused(registry, copy, {"refused", "file", "writable by others", "mode 0666", "--allow-insecure-plugins"});
  BOOST_TEST(registry.components().empty());
  BOOST_TEST(llmrt::load_plugin_file(registry, copy, LoadOptions{true}).ok());
  BOOST_TEST(registry.find("c.single_good") != nullptr);
}

BOOST_AUTO_TEST_CASE(directory_writable_by_others) {
  llmrt::test::TempDir dir("plugin_insecure_dir");
  const std::string folder = dir.path() + "/open";
  fs::create_directories(folder);
  const std::string copy = folder + "/good.so";
  fs::copy_file(fixture("c_good"), copy);
  ::chmod(copy.c_str(), 0644);
  ::chmod(folder.c_str(), 0777);
  Registry registry;
  expect_refused(registry, copy, {"refused", "directory " + folder, "writable by others", "mode 0777"});
  BOOST_TEST(llmrt::load_plugin_file(registry, copy, LoadOptions{true}).ok());
  ::chmod(folder.c_str(), 0755);
}

BOOST_AUTO_TEST_CASE(search_path_order_and_missing_entries) {
  llmrt::PluginSearchOptions options;
  options.use_builtin = false;
  options.config_paths = {std::string(PLUGIN_FIXTURE_DIR) + "/c_good"};
  options.environment_path = std::string(PLUGIN_FIXTURE_DIR) + "/cpp_a::" + fixture("c_newer_minor_ok");
  const auto entries = llmrt::plugin_search_path(options);
  BOOST_REQUIRE(entries.size() == 3u);
  BOOST_TEST(entries[0].origin == "model.plugin_paths");
  BOOST_TEST(entries[1].origin == "LLMRT_PLUGIN_PATH");
  auto registry = llmrt::load_plugins(options);
  BOOST_REQUIRE_MESSAGE(registry.ok(), (registry.ok() ? "" : registry.error().message()));
  BOOST_TEST(registry->find("c.single_good") != nullptr);
  BOOST_TEST(registry->find("test.scale") != nullptr);
  BOOST_TEST(registry->find("c.single_newer_minor_ok") != nullptr);

  options.environment_path = std::string(PLUGIN_FIXTURE_DIR) + "/missing_dir";
  auto missing = llmrt::load_plugins(options);
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.error().message().find("LLMRT_PLUGIN_PATH entry") != std::string::npos);
  BOOST_TEST(missing.error().message().find("missing_dir") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(builtin_directory_is_the_build_tree_one) {
  BOOST_TEST(llmrt::builtin_plugin_dir() == std::string(LLMRT_BINARY_DIR) + "/lib/llmrt/plugins");
}
