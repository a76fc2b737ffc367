// The TOML reader: defaults, types, includes, overrides and component keys, read into Spec.
#define BOOST_TEST_MODULE config_reader
#include <boost/test/unit_test.hpp>

#include "config/read_spec.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

const char* kMinimal = R"(
[cluster]
[[cluster.node]]
name = "n0"
cpus = { ranks = 3 }

[model]
seq_len = 64
vocab_size = 97
[[model.layer]]
component = "gpt.block"
repeat = 5
d_model = 48
heads = 6
betas = [0.9, 0.95]
)";

Spec read_ok(const std::string& path, const std::vector<std::string>& overrides = {}) {
  auto spec = read_spec(path, overrides);
  BOOST_REQUIRE_MESSAGE(spec.ok(), (spec.ok() ? "" : spec.error().message()));
  return *spec;
}

}  // namespace

BOOST_AUTO_TEST_CASE(minimal_file_takes_documented_defaults) {
  TempDir dir("config_reader_defaults");
  const Spec spec = read_ok(dir.write("job.toml", kMinimal));
  BOOST_TEST(spec.cluster.nodes.size() == 1u);
  BOOST_TEST(spec.cluster.nodes[0].cpu_ranks == 3);
  BOOST_TEST(spec.cluster.nodes[0].cpu_threads_per_rank == 1);
  BOOST_TEST(spec.model.seq_len.value == 64);
  BOOST_TEST(spec.model.layers.at(0).repeat == 5);
  BOOST_TEST(!spec.parallel.pp.value.has_value());  // "auto"
  BOOST_TEST(spec.parallel.schedule == "1f1b");
  BOOST_TEST(spec.train.optimizer.component.value == "adamw");
  BOOST_TEST(spec.train.lr_schedule.component.value == "constant");
  BOOST_TEST(spec.metrics.run_dir == "runs/gpt");
  BOOST_TEST(spec.metrics.prometheus.value == "127.0.0.1:9464");
  BOOST_TEST(spec.cluster.network.bandwidth_gbps == 10.0);
}

BOOST_AUTO_TEST_CASE(component_keys_keep_type_and_position) {
  TempDir dir("config_reader_component");
  const Spec spec = read_ok(dir.write("job.toml", kMinimal));
  const LayerSpec& block = spec.model.layers.at(0);
  BOOST_TEST(std::get<std::int64_t>(block.params.at("d_model").value) == 48);
  BOOST_TEST(std::get<std::int64_t>(block.params.at("heads").value) == 6);
  const auto& betas = std::get<std::vector<double>>(block.params.at("betas").value);
  BOOST_TEST(betas.size() == 2u);
  BOOST_TEST(betas[1] == 0.95);
  BOOST_TEST(block.params.at("heads").pos.line == 14);  // kMinimal opens with a newline
  BOOST_TEST(block.params.count("repeat") == 0u);  // a reserved key, not the plugin's
}

BOOST_AUTO_TEST_CASE(include_merges_and_the_including_file_wins) {
  TempDir dir("config_reader_include");
  dir.write("cluster/lab.toml", "[cluster]\nname = \"lab\"\n[[cluster.node]]\nname = \"a\"\ngpus = { model = \"H100-SXM\", count = 4 }\n[train]\nsteps = 7\nseed = 5\n");
  const std::string main = dir.write("job.toml", std::string("include = [\"cluster/lab.toml\"]\n[train]\nsteps = 9\n") +
                                                     R"([model]
seq_len = 8
vocab_size = 16
[[model.layer]]
component = "x"
)");
  const Spec spec = read_ok(main);
  BOOST_TEST(spec.cluster.name == "lab");
  BOOST_TEST(spec.cluster.nodes.at(0).gpus.at(0).count == 4);
  BOOST_TEST(spec.train.steps == 9);  // the including file overrides
  BOOST_TEST(spec.train.seed == 5u);  // the included file's other keys stay
}

BOOST_AUTO_TEST_CASE(overrides_are_typed_like_toml_values) {
  TempDir dir("config_reader_set");
  const Spec spec = read_ok(dir.write("job.toml", kMinimal),
                            {"train.steps=17", "parallel.pp=3", "parallel.stage_layers=[2, 3]", "data.train=shards/x.bin",
                             "model.layer[0].heads=12", "train.optimizer.lr=0.002", "cluster.node[0].cpus.ranks=5"});
  BOOST_TEST(spec.train.steps == 17);
  BOOST_TEST(*spec.parallel.pp.value == 3);
  BOOST_TEST(spec.parallel.stage_layers.value->size() == 2u);
  BOOST_TEST(spec.data.train == "shards/x.bin");
  BOOST_TEST(std::get<std::int64_t>(spec.model.layers[0].params.at("heads").value) == 12);
  BOOST_TEST(std::get<double>(spec.train.optimizer.params.at("lr").value) == 0.002);
  BOOST_TEST(spec.cluster.nodes[0].cpu_ranks == 5);
  BOOST_TEST(spec.train.optimizer.params.at("lr").pos.file == "--set");
}

BOOST_AUTO_TEST_CASE(device_lists_take_ranges_lists_and_arrays) {
  TempDir dir("config_reader_devices");
  const std::string text = R"(
[cluster]
[[cluster.node]]
name = "n0"
gpus = [ { model = "RTX-3090", count = 3 }, { model = "A100-80GB-PCIE", count = 4 } ]
links = [ { kind = "nvlink", gpus = "0-2,5" }, { kind = "pcie", gpus = [6, 4] } ]
[model]
seq_len = 8
vocab_size = 16
[[model.layer]]
component = "x"
)";
  const Spec spec = read_ok(dir.write("job.toml", text));
  const NodeSpec& node = spec.cluster.nodes.at(0);
  BOOST_TEST(node.gpu_count() == 7);
  BOOST_TEST(node.gpus.at(1).model.value == "A100-80GB-PCIE");
  BOOST_TEST((node.links.at(0).gpus.value == std::vector<int>{0, 1, 2, 5}));
  BOOST_TEST((node.links.at(1).gpus.value == std::vector<int>{6, 4}));
  BOOST_TEST((node.links.at(0).kind == LinkKind::kNvlink));
}

BOOST_AUTO_TEST_CASE(plugin_paths_are_relative_to_the_naming_file) {
  TempDir dir("config_reader_paths");
  const std::string main = dir.write("sub/job.toml", std::string(kMinimal) + "");
  const Spec with_paths = read_ok(main, {"model.plugin_paths=[\"plugins\", \"/abs/dir\"]"});
  // An override has no file of its own: its paths stay as given.
  BOOST_TEST(with_paths.model.plugin_paths.at(0) == "plugins");
  dir.write("sub/job2.toml", std::string(kMinimal).replace(std::string(kMinimal).find("[model]"), 7,
                                                          "[model]\nplugin_paths = [\"my/plugins\"]"));
  const Spec spec = read_ok(dir.path() + "/sub/job2.toml");
  BOOST_TEST(spec.model.plugin_paths.at(0) == dir.path() + "/sub/my/plugins");
}
