// The C++ layer and the runtime's call API end to end: a plugin written against plugin.hpp is
// configured (unknown keys, types, defaults), created, and run through the C ABI.
#define BOOST_TEST_MODULE plugin_cpp_layer
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "plugin/component_config.h"
#include "plugin/host_api.h"
#include "plugin/plugin_calls.h"
#include "plugin/plugin_search.h"
#include "plugin/host_tensors.h"

using namespace llmrt;

namespace {

Registry load_fixtures() {
  PluginSearchOptions options;
  options.use_builtin = false;
  options.environment_path = std::string(PLUGIN_FIXTURE_DIR) + "/cpp_a:" + PLUGIN_FIXTURE_DIR + "/c_good";
  auto registry = load_plugins(options);
  BOOST_REQUIRE_MESSAGE(registry.ok(), (registry.ok() ? "" : registry.error().message()));
  return std::move(*registry);
}

ComponentSpec spec_with(const std::string& component, std::map<std::string, ParamValue> values) {
  ComponentSpec spec;
  spec.component.value = component;
  spec.pos = SourcePos{"model.toml", 7, 1, "model.layer[0]"};
  int line = 8;
  for (auto& [key, value] : values) {
    spec.params[key] = Located<ParamValue>{value, SourcePos{"model.toml", line++, 1, "model.layer[0]." + key}};
  }
  return spec;
}

llmrt_tensor cpu_tensor(std::vector<float>& data, std::vector<int64_t> shape) {
  return host_tensor(data.data(), LLMRT_DTYPE_F32, shape);
}

llmrt_call_ctx cpu_ctx() {
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {LLMRT_DEVICE_CPU, 0};
  ctx.tp_size = 1;
  return ctx;
}

}  // namespace

BOOST_AUTO_TEST_CASE(unknown_key_gets_did_you_mean) {
  Registry registry = load_fixtures();
  const Component* scale = registry.find("test.scale");
  BOOST_REQUIRE(scale != nullptr);
  auto resolved = resolve_component_config(*scale, spec_with("test.scale", {{"chanels", std::int64_t{3}}}));
  BOOST_REQUIRE(!resolved.ok());
  const std::string message = resolved.error().message();
  BOOST_TEST(message.find("model.toml:8:1") != std::string::npos, message);
  BOOST_TEST(message.find("unknown key 'chanels' for layer 'test.scale' (did you mean 'channels'?)") != std::string::npos,
             message);
  BOOST_TEST(static_cast<int>(resolved.error().kind()) == static_cast<int>(ErrorKind::kInput));
}

BOOST_AUTO_TEST_CASE(wrong_type_and_missing_required_key) {
  Registry registry = load_fixtures();
  const Component* scale = registry.find("test.scale");
  auto wrong = resolve_component_config(*scale, spec_with("test.scale", {{"channels", std::string("three")}}));
  BOOST_REQUIRE(!wrong.ok());
  BOOST_TEST(wrong.error().message().find("key 'channels' of layer 'test.scale': expected int, found string") !=
             std::string::npos, wrong.error().message());
  auto missing = resolve_component_config(*scale, spec_with("test.scale", {}));
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.error().message().find("needs key 'channels' (int: width C of the input)") != std::string::npos,
             missing.error().message());
}

BOOST_AUTO_TEST_CASE(defaults_and_integer_for_float) {
  Registry registry = load_fixtures();
  auto resolved = resolve_component_config(*registry.find("test.scale"),
                                           spec_with("test.scale", {{"channels", std::int64_t{3}}, {"factor", std::int64_t{3}}}));
  BOOST_REQUIRE(resolved.ok());
  const llmrt_config* config = resolved->get();
  BOOST_REQUIRE(config->count == 3u);
  BOOST_TEST(std::string(config->values[0].name) == "factor");
  BOOST_TEST(config->values[0].number == 3.0);
  BOOST_TEST(config->values[1].integer == 3);
  BOOST_TEST(config->values[2].boolean == 0);
  auto schedule = resolve_default_config(*registry.find("c.single_good"));
  BOOST_REQUIRE(schedule.ok());
  BOOST_TEST(schedule->get()->values[0].integer == 2);
  BOOST_TEST(std::string(schedule->get()->values[1].string) == "plain");
}

BOOST_AUTO_TEST_CASE(layer_forward_backward_through_the_abi) {
  Registry registry = load_fixtures();
  const Component& scale = *registry.find("test.scale");
  auto config = resolve_component_config(scale, spec_with("test.scale", {{"channels", std::int64_t{3}}, {"factor", 1.5}}));
  BOOST_REQUIRE(config.ok());
  llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  auto layer = create_layer(scale, *config, context);
  BOOST_REQUIRE_MESSAGE(layer.ok(), (layer.ok() ? "" : layer.error().message()));

  auto params = layer_param_specs(*layer);
  BOOST_REQUIRE(params.ok());
  BOOST_REQUIRE(params->size() == 1u);
  BOOST_TEST(std::string((*params)[0].name) == "bias");
  BOOST_TEST((*params)[0].shape[0] == 3);

  // x: (B=1, T=5, C=3), odd sizes, non-zero values
  std::vector<float> x(15), y(15, 0.f), bias = {0.25f, -0.5f, 1.0f}, gy(15), gx(15), gbias(3, 0.f);
  for (int i = 0; i < 15; ++i) x[i] = 0.1f * static_cast<float>(i) - 0.7f, gy[i] = 0.05f * static_cast<float>(i + 1);
  llmrt_tensor in = cpu_tensor(x, {1, 5, 3});
  auto shapes = layer_infer_shapes(*layer, {in});
  BOOST_REQUIRE(shapes.ok());
  BOOST_TEST((*shapes)[0].shape[1] == 5);

  llmrt_call_ctx ctx = cpu_ctx();
  llmrt_tensor p = cpu_tensor(bias, {3}), out = cpu_tensor(y, {1, 5, 3});
  BOOST_REQUIRE(layer_forward(*layer, ctx, {.in = {&in, 1}, .params = {&p, 1}, .out = {&out, 1}}, "forward").ok());
  for (int i = 0; i < 15; ++i) BOOST_TEST(y[i] == 1.5f * x[i] + bias[i % 3]);

  llmrt_tensor go = cpu_tensor(gy, {1, 5, 3}), gi = cpu_tensor(gx, {1, 5, 3}), gp = cpu_tensor(gbias, {3});
  BOOST_REQUIRE(has_backward_weight(scale));
  BOOST_REQUIRE(layer_backward_input(*layer, ctx, {.grad_out = {&go, 1}, .in = {&in, 1}, .params = {&p, 1},
                                                   .grad_in = {&gi, 1}}, "backward_input").ok());
  BOOST_REQUIRE(layer_backward_weight(*layer, ctx, {.grad_out = {&go, 1}, .in = {&in, 1}, .params = {&p, 1},
                                                    .grad_params = {&gp, 1}}, "backward_weight").ok());
  for (int i = 0; i < 15; ++i) BOOST_TEST(gx[i] == 1.5f * gy[i]);
  BOOST_TEST(gbias[0] == gy[0] + gy[3] + gy[6] + gy[9] + gy[12]);

  auto hints = layer_cost_hints(*layer, 4, 11);
  BOOST_REQUIRE(hints.ok());
  BOOST_TEST(hints->forward_flops == 2.0 * 4 * 11 * 3);
  auto saved = layer_saved_bytes(*layer, 4, 11);
  BOOST_REQUIRE(saved.ok());
  BOOST_TEST(*saved == 0u);

  // No supports() override: the C ABI's default, CPU with f32 activations only, with the reason.
  BOOST_TEST(*layer_supports(*layer, LLMRT_DEVICE_CPU, LLMRT_DTYPE_F32) == "");
  BOOST_TEST(*layer_supports(*layer, LLMRT_DEVICE_CUDA, LLMRT_DTYPE_F32) == "runs on the CPU with f32 activations only");
  BOOST_TEST(*layer_supports(*layer, LLMRT_DEVICE_CPU, LLMRT_DTYPE_BF16) == "runs on the CPU with f32 activations only");
}

BOOST_AUTO_TEST_CASE(exceptions_become_statuses) {
  Registry registry = load_fixtures();
  const Component& scale = *registry.find("test.scale");
  // The constructor's PluginError: an input error naming the component.
  auto bad = resolve_component_config(scale, spec_with("test.scale", {{"channels", std::int64_t{-1}}}));
  BOOST_REQUIRE(bad.ok());
  llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  auto refused = create_layer(scale, *bad, context);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.error().message().find("layer 'test.scale'") != std::string::npos);
  BOOST_TEST(refused.error().message().find("create: channels must be positive, found -1") != std::string::npos,
             refused.error().message());
  BOOST_TEST(static_cast<int>(refused.error().kind()) == static_cast<int>(ErrorKind::kInput));

  // A std::exception from forward: an internal failure, carried with its what().
  auto config = resolve_component_config(scale, spec_with("test.scale", {{"channels", std::int64_t{1}},
                                                                          {"fail_forward", true}}));
  BOOST_REQUIRE(config.ok());
  auto layer = create_layer(scale, *config, context);
  BOOST_REQUIRE(layer.ok());
  std::vector<float> x(2, 1.f), y(2), b(1);
  llmrt_tensor in = cpu_tensor(x, {2, 1}), out = cpu_tensor(y, {2, 1}), p = cpu_tensor(b, {1});
  llmrt_call_ctx ctx = cpu_ctx();
  Status status = layer_forward(*layer, ctx, {.in = {&in, 1}, .params = {&p, 1}, .out = {&out, 1}}, "forward");
  BOOST_REQUIRE(!status.ok());
  BOOST_TEST(status.error().message().find("forward: forward exploded on purpose") != std::string::npos);
  BOOST_TEST(static_cast<int>(status.error().kind()) == static_cast<int>(ErrorKind::kRuntime));
}

BOOST_AUTO_TEST_CASE(optimizer_and_lr_schedule) {
  Registry registry = load_fixtures();
  const Component& sgd = *registry.find("test.momentum_sgd");
  auto config = resolve_default_config(sgd);
  BOOST_REQUIRE(config.ok());
  auto optimizer = create_optimizer(sgd, *config);
  BOOST_REQUIRE(optimizer.ok());
  auto states = optimizer_state_specs(*optimizer);
  BOOST_REQUIRE(states.ok());
  BOOST_REQUIRE(states->size() == 1u);
  BOOST_TEST(std::string((*states)[0].name) == "velocity");
  std::vector<float> p = {1.f, 2.f, 3.f}, g = {0.5f, -1.f, 2.f}, v = {0.f, 0.f, 0.f};
  llmrt_tensor pt = cpu_tensor(p, {3}), gt = cpu_tensor(g, {3}), vt = cpu_tensor(v, {3});
  llmrt_call_ctx ctx = cpu_ctx();
  BOOST_REQUIRE(optimizer_step(*optimizer, ctx, pt, gt, {&vt, 1}, 0.1, 1).ok());
  BOOST_REQUIRE(optimizer_step(*optimizer, ctx, pt, gt, {&vt, 1}, 0.1, 2).ok());
  // v1 = g, p1 = p0 - 0.1 g; v2 = 0.5 g + g, p2 = p1 - 0.15 g
  BOOST_TEST(p[1] == 2.f + 0.25f, boost::test_tools::tolerance(1e-6f));

  const Component& halving = *registry.find("test.halving");
  BOOST_TEST(!resolve_default_config(halving).ok());  // "every" is required
  auto lr_config = resolve_component_config(halving, spec_with("test.halving", {{"every", std::int64_t{10}}}));
  BOOST_REQUIRE(lr_config.ok());
  auto schedule = create_lr_schedule(halving, *lr_config);
  BOOST_REQUIRE(schedule.ok());
  auto lr = lr_schedule_lr_at(*schedule, 25, 100, 0.8);
  BOOST_REQUIRE(lr.ok());
  BOOST_TEST(*lr == 0.2);
}

BOOST_AUTO_TEST_CASE(lookup_by_kind_with_did_you_mean) {
  Registry registry = load_fixtures();
  auto typo = registry.lookup("test.scal", LLMRT_KIND_LAYER, "model.toml:3:1");
  BOOST_REQUIRE(!typo.ok());
  BOOST_TEST(typo.error().message().find("no layer named 'test.scal' (did you mean 'test.scale'?)") != std::string::npos);
  auto wrong_kind = registry.lookup("test.scale", LLMRT_KIND_OPTIMIZER, "train.optimizer");
  BOOST_REQUIRE(!wrong_kind.ok());
  BOOST_TEST(wrong_kind.error().message().find("is a layer") != std::string::npos);
  BOOST_TEST(registry.lookup("c.single_good", LLMRT_KIND_PIPELINE_SCHEDULE, "x").ok());
}

BOOST_AUTO_TEST_CASE(host_services_for_a_group_of_one) {
  const llmrt_host_api* host = plugin_host_api();
  int32_t rank = -1, size = -1;
  BOOST_REQUIRE(host->comm_info(nullptr, &rank, &size) == nullptr);
  BOOST_TEST(rank == 0);
  BOOST_TEST(size == 1);
  float send[3] = {1.f, 2.f, 3.f}, recv[3] = {};
  BOOST_REQUIRE(host->all_reduce(nullptr, send, recv, 3, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr) == nullptr);
  BOOST_TEST(recv[2] == 3.f);
  void* memory = nullptr;
  BOOST_REQUIRE(host->host_alloc(100, 256, &memory) == nullptr);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(memory) % 256 == 0u);
  host->host_free(memory);
  uint64_t seed = 0, first = 0, second = 0;
  set_plugin_rng_seed(42);
  BOOST_REQUIRE(host->rng_reserve(nullptr, 10, &seed, &first) == nullptr);
  BOOST_REQUIRE(host->rng_reserve(nullptr, 10, &seed, &second) == nullptr);
  BOOST_TEST(seed == 42u);
  BOOST_TEST(second == first + 10);
  llmrt_status* status = host->status_new(LLMRT_INVALID_ARGUMENT, "bad value");
  BOOST_TEST(host->status_code(status) == LLMRT_INVALID_ARGUMENT);
  BOOST_TEST(std::string(host->status_message(status)) == "bad value");
  host->status_free(status);
}
