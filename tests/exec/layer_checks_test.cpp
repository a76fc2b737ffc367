// The checks a plugin's layer is held to (issue 13): parameter specs as read
// (exec/param_checks.h), the non-finite scan of detect_anomaly and the parameter guard's canaries
// (exec/layer_checks.h) on a parameter store laid out from the real GPT plugins' specs.
#define BOOST_TEST_MODULE exec_layer_checks
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "config/read_spec.h"
#include "exec/layer_checks.h"
#include "exec/param_checks.h"
#include "plugin/plugin_search.h"
#include "support/process.h"

namespace llmrt {
namespace {

llmrt_param_spec spec_of(const char* name, std::vector<std::int64_t> shape, int shard_dim = LLMRT_NO_SHARD) {
  llmrt_param_spec spec{};
  spec.struct_size = sizeof(spec);
  spec.name = name;
  spec.dtype = LLMRT_DTYPE_F32;
  spec.rank = static_cast<std::int32_t>(shape.size());
  for (std::size_t d = 0; d < shape.size(); ++d) spec.shape[d] = shape[d];
  spec.shard_dim = shard_dim;
  return spec;
}

std::string refusal(const std::vector<llmrt_param_spec>& specs, int tp) {
  const Status status = check_param_specs(specs, tp, "layer x[1]");
  BOOST_REQUIRE(!status.ok());
  BOOST_TEST((status.error().kind() == ErrorKind::kInput));
  return status.error().message();
}

BOOST_AUTO_TEST_CASE(param_specs_are_checked_where_they_are_read) {
  BOOST_TEST(check_param_specs({spec_of("w", {4, 6}, 1), spec_of("b", {6})}, 2, "x").ok());
  BOOST_TEST(refusal({spec_of("w", {-64})}, 1) ==
             "layer x[1]: parameter 'w' has shape [-64]: dimension 0 is -64, expected a positive extent");
  BOOST_TEST(refusal({spec_of("w", {3, 0})}, 1).find("dimension 1 is 0") != std::string::npos);
  llmrt_param_spec deep = spec_of("w", {2});
  deep.rank = LLMRT_MAX_RANK + 1;
  BOOST_TEST(refusal({deep}, 1).find(fmt::format("has rank {}: expected 0 to {}", LLMRT_MAX_RANK + 1,
                                                 LLMRT_MAX_RANK)) != std::string::npos);
  BOOST_TEST(refusal({spec_of("w", {8}, 1)}, 1).find("has shard_dim 1: expected a dimension 0 to 0") !=
             std::string::npos);
  BOOST_TEST(refusal({spec_of("w", {8}, -2)}, 1).find("has shard_dim -2") != std::string::npos);
  BOOST_TEST(refusal({spec_of("w", {4, 9}, 1)}, 2).find("shards dimension 1 = 9, which does not split into tp = 2") !=
             std::string::npos);
  BOOST_TEST(refusal({spec_of("w", {4}), spec_of("w", {4})}, 1).find("'w' is declared twice") != std::string::npos);
  BOOST_TEST(refusal({spec_of(nullptr, {4})}, 1).find("parameter 0 of 1 has no name") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(first_non_finite_reads_every_activation_dtype) {
  std::vector<float> f32 = {1, -2, 3, 4};
  BOOST_TEST(first_non_finite(f32.data(), LLMRT_DTYPE_F32, f32.size()) == f32.size());
  f32[2] = std::numeric_limits<float>::infinity();
  BOOST_TEST(first_non_finite(f32.data(), LLMRT_DTYPE_F32, f32.size()) == 2u);
  // bf16 is the top half of an f32; f16 has a 5-bit exponent.
  std::vector<std::uint16_t> bf16 = {0x3f80, 0xbf80, 0x7f7f, 0x7fc0};
  BOOST_TEST(first_non_finite(bf16.data(), LLMRT_DTYPE_BF16, bf16.size()) == 3u);
  std::vector<std::uint16_t> f16 = {0x3c00, 0x7bff, 0xfc00};
  BOOST_TEST(first_non_finite(f16.data(), LLMRT_DTYPE_F16, f16.size()) == 2u);
}

// The GPT model's layers (embedding, two blocks, head with its tied wte).
std::vector<LayerSlot> gpt_layers(Registry& registry, const ModelSpec& model) {
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  auto layers = create_layers(model, registry, 0, 4, context);
  BOOST_REQUIRE_MESSAGE(layers.ok(), (layers.ok() ? "" : layers.error().message()));
  return std::move(*layers);
}

BOOST_AUTO_TEST_CASE(guarded_store_holds_the_same_parameters_and_names_an_overrun) {
  test::TempDir dir("layer_checks_guard");
  auto spec = read_spec(dir.write("job.toml", R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = { ranks = 1 }
[model]
seq_len = 8
vocab_size = 23
[[model.layer]]
component = "gpt.embedding"
d_model = 8
[[model.layer]]
component = "gpt.block"
repeat = 2
heads = 2
[[model.layer]]
component = "gpt.head"
)"));
  BOOST_REQUIRE_MESSAGE(spec.ok(), (spec.ok() ? "" : spec.error().message()));
  auto registry = load_plugins(PluginSearchOptions{});
  BOOST_REQUIRE(registry.ok());
  const std::vector<LayerSlot> layers = gpt_layers(*registry, spec->model);
  auto plain = ParamStore::build(layers, 0, 1);
  auto guarded = ParamStore::build(layers, 0, 1, cpu_device(), kParamGuardGap);
  BOOST_REQUIRE(plain.ok() && guarded.ok());
  BOOST_REQUIRE(plain->initialize(7).ok() && guarded->initialize(7).ok());
  const auto& entries = guarded->entries();
  BOOST_REQUIRE_EQUAL(entries.size(), plain->entries().size());
  BOOST_TEST(guarded->parameter_count() == plain->parameter_count() + kParamGuardGap * (entries.size() + 1));
  for (std::size_t i = 0; i < entries.size(); ++i) {  // the same values, each slice between two gaps
    const ParamEntry& a = plain->entries()[i];
    const ParamEntry& b = entries[i];
    BOOST_TEST(std::memcmp(plain->params().data() + a.offset, guarded->params().data() + b.offset,
                           a.count * sizeof(float)) == 0);
    BOOST_TEST(std::isnan(guarded->params()[b.offset - 1]));
    BOOST_TEST(std::isnan(guarded->params()[b.offset + b.count]));
  }
  auto intact = guarded->canary_damage();
  BOOST_REQUIRE(intact.ok());
  BOOST_TEST(intact->empty());
  BOOST_TEST(guarded->zero_grads().ok());
  BOOST_TEST(guarded->canary_damage()->empty());

  // One write past the end of the second parameter's slice, in the weights.
  const ParamEntry& second = entries[1];
  guarded->params()[second.offset + second.count] = 0.5f;
  const std::string past = *guarded->canary_damage();
  BOOST_TEST(past == fmt::format("1 value past the end of parameter '{}' ({} elements, local shape {}) in the "
                                 "weights (element 0 past its end, counting from 0)", second.name, second.count,
                                 shape_text(second.local_shape)), past);
  guarded->params()[second.offset + second.count] = std::numeric_limits<float>::quiet_NaN();
  BOOST_TEST(guarded->canary_damage()->empty());

  // Two values just before the last parameter's slice, in the gradients.
  const ParamEntry& last = entries.back();
  guarded->grads()[last.offset - 1] = 1;
  guarded->grads()[last.offset - 2] = 1;
  const std::string before = *guarded->canary_damage();
  BOOST_TEST(before == fmt::format("2 values before the start of parameter '{}' ({} elements, local shape {}) in the "
                                   "gradients", last.name, last.count, shape_text(last.local_shape)), before);
}

}  // namespace
}  // namespace llmrt
