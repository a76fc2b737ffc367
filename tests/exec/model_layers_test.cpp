// The one walk over layer shapes (layer_output_shapes) through the real GPT plugins: the whole
// model from token ids, a later stage's slice from its input activation, and a model whose
// block does not fit the embedding, refused naming both layers.
#define BOOST_TEST_MODULE exec_model_layers
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include "config/read_spec.h"
#include "exec/model_layers.h"
#include "exec/param_checks.h"
#include "plugin/plugin_search.h"
#include "support/process.h"

namespace llmrt {
namespace {

using Shapes = std::vector<std::vector<std::int64_t>>;

// Embedding (d_model 12), `blocks` blocks of d_model `block_width`, a head of d_model 12 (its
// wte tied to the embedding's).
std::string model_config(int block_width, int blocks) {
  return fmt::format(R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = {{ ranks = 1 }}
[model]
seq_len = 7
vocab_size = 19
[[model.layer]]
component = "gpt.embedding"
d_model = 12
[[model.layer]]
component = "gpt.block"
repeat = {}
d_model = {}
heads = 2
[[model.layer]]
component = "gpt.head"
d_model = 12
)",
                     blocks, block_width);
}

struct ModelLayers {
  Registry registry;
  std::vector<LayerSlot> layers;
};

ModelLayers create_model(const std::string& name, int block_width, int blocks) {
  test::TempDir dir(name);
  auto spec = read_spec(dir.write("job.toml", model_config(block_width, blocks)));
  BOOST_REQUIRE_MESSAGE(spec.ok(), (spec.ok() ? "" : spec.error().message()));
  auto registry = load_plugins(PluginSearchOptions{});
  BOOST_REQUIRE_MESSAGE(registry.ok(), (registry.ok() ? "" : registry.error().message()));
  ModelLayers model{std::move(*registry), {}};
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  auto layers = create_layers(spec->model, model.registry, 0, blocks + 2, context);
  BOOST_REQUIRE_MESSAGE(layers.ok(), (layers.ok() ? "" : layers.error().message()));
  model.layers = std::move(*layers);
  return model;
}

BOOST_AUTO_TEST_CASE(walks_the_model_from_token_ids_and_a_stage_from_its_input) {
  ModelLayers model = create_model("model_layers_walk", 12, 3);
  auto shapes = layer_output_shapes(model.layers, 5, 7);
  BOOST_REQUIRE_MESSAGE(shapes.ok(), (shapes.ok() ? "" : shapes.error().message()));
  BOOST_REQUIRE_EQUAL(shapes->size(), 5u);
  for (std::size_t i = 0; i < 4; ++i) {
    BOOST_TEST((*shapes)[i] == (std::vector<std::int64_t>{5, 7, 12}), boost::test_tools::per_element());
  }
  BOOST_TEST(shapes->back().empty());  // the head's loss is a scalar
  // A middle stage: model layers 2 and 3 (blocks), fed the previous stage's activation, not ending the model.
  std::vector<LayerSlot> middle;
  for (std::size_t i = 2; i < 4; ++i) middle.push_back(std::move(model.layers[i]));
  auto stage = layer_output_shapes(middle, 5, 7, std::vector<std::int64_t>{5, 7, 12}, false);
  BOOST_REQUIRE_MESSAGE(stage.ok(), (stage.ok() ? "" : stage.error().message()));
  BOOST_TEST(stage->size() == 2u);
  auto wrong_input = layer_output_shapes(middle, 5, 7, std::vector<std::int64_t>{5, 7, 13}, false);
  BOOST_REQUIRE(!wrong_input.ok());
  BOOST_TEST(wrong_input.error().message().find("gpt.block[2]") != std::string::npos, wrong_input.error().message());
}

BOOST_AUTO_TEST_CASE(a_layer_that_refuses_its_input_is_named_with_the_layer_before_it) {
  const ModelLayers model = create_model("model_layers_mismatch", 8, 1);
  auto shapes = layer_output_shapes(model.layers, 2, 7);
  BOOST_REQUIRE(!shapes.ok());
  const std::string message = shapes.error().message();
  // The layer whose declared output was refused comes first (its infer_shapes may be the mistake).
  BOOST_TEST(message.find("gpt.embedding[0]'s output (2, 7, 12), as its infer_shapes declares it (component "
                          "'gpt.embedding', plugin ") != std::string::npos, message);
  BOOST_TEST(message.find("is refused by the next layer gpt.block[1]") != std::string::npos, message);
}

// Tied parameters of two shapes are refused (check and run), both shapes printed and both
// layers named with their place in the config.
BOOST_AUTO_TEST_CASE(tied_parameters_of_two_shapes_are_refused_naming_both) {
  test::TempDir dir("model_layers_tie");
  std::string config = model_config(8, 1);
  config.replace(config.rfind("d_model = 12"), 12, "d_model = 8");  // the head's wte: [19, 8], the embedding's [19, 12]
  auto spec = read_spec(dir.write("job.toml", config));
  BOOST_REQUIRE(spec.ok());
  auto registry = load_plugins(PluginSearchOptions{});
  BOOST_REQUIRE(registry.ok());
  // (check_model_components walks the shapes first, which the GPT layers refuse before the tie.)
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  auto layers = create_layers(spec->model, *registry, 0, 3, context);
  BOOST_REQUIRE(layers.ok());
  const Status checked = check_param_ties(spec->model, *layers);
  BOOST_REQUIRE(!checked.ok());
  const std::string message = checked.error().message();
  BOOST_TEST((checked.error().kind() == ErrorKind::kInput));
  BOOST_TEST(message.find("model.layer[2]: layer gpt.head[2] (component 'gpt.head'") != std::string::npos, message);
  BOOST_TEST(message.find("parameter 'wte' is tied as 'wte' with shape [19, 8], but parameter 'wte' of ") !=
             std::string::npos, message);
  BOOST_TEST(message.find("model.layer[0]: layer gpt.embedding[0] (component 'gpt.embedding'") != std::string::npos,
             message);
  BOOST_TEST(message.find("is tied as 'wte' with shape [19, 12]") != std::string::npos, message);
}

}  // namespace
}  // namespace llmrt
