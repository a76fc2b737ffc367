// train.cuda_graph on the CPU: a rehearsal of a one-GPU job (--rehearse, the GPU played by a CPU
// rank) runs every step after the warm-up inside the capture region, reading its tokens through
// the pinned staging as the GPU would, and must give bitwise the losses, gradient norms and
// parameters of the same run without the key (4 microbatches a step, 5 steps). A layer that
// declares LLMRT_LAYER_GRAPH_SAFE but allocates, or draws random numbers, from its second call
// on fails the graph run naming itself, and trains without the key. The GPU side is
// tests/cuda/cuda_graph_gpu_test.cpp.
#define BOOST_TEST_MODULE exec_cuda_graph
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.h"
#include "support/tiny_gpt.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

void replace(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, "the tiny GPT config has no " << from);
  text.replace(at, from.size(), to);
}

// The tiny GPT on one A100 (rehearsed here), `steps` steps of 4 microbatches on the phrase shard.
// `hostile`: instead a layer of tests/plugin/hostile/mistaken_layer.c, which runs on the CPU only,
// put between the embedding and the blocks (hostile_<hostile>.so), on the tiny GPT's CPU rank:
// --rehearse runs a CPU job's graph mode the same way (the audit).
std::string graph_job(const TempDir& dir, int steps, const std::string& hostile = "") {
  std::string text = llmrt::test::tiny_gpt_config(steps, "tensorboard = false\n");
  if (hostile.empty()) replace(text, "cpus = { ranks = 1 }", "gpus = { model = \"A100-80GB-SXM\", count = 1 }");
  if (!hostile.empty()) {
    replace(text, "[model]\n", std::string("[model]\nplugin_paths = [\"") + HOSTILE_PLUGIN_DIR + "/hostile_" + hostile +
                                   ".so\"]\n");
    replace(text, "[[model.layer]]\ncomponent = \"gpt.block\"",
            "[[model.layer]]\ncomponent = \"hostile.scale\"\nd_model = 32\n[[model.layer]]\ncomponent = \"gpt.block\"");
  }
  text += "[data]\ntrain = \"" + llmrt::test::write_phrase_shard(dir) + "\"\n";
  return dir.write("job.toml", text);
}

struct Run {
  ProcessResult result;
  std::vector<double> losses, grad_norms;
  std::string params;  // rank 0's dumped parameters
};

Run rehearse(const TempDir& dir, const std::string& config, const std::string& name, bool graph) {
  const std::string out = dir.path() + "/" + name;
  Run run;
  const std::vector<std::string> argv = {LLMRT_CLI_BINARY, "run", config, "--rehearse", "--dump-params",
                                         out + "/params", "--set", "metrics.run_dir=\"" + out + "\"", "--set",
                                         std::string("train.cuda_graph=") + (graph ? "true" : "false")};
  run.result = llmrt::test::run_process(argv, {}, "", 300);
  std::ifstream metrics(out + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto json = nlohmann::json::parse(line);
    run.losses.push_back(json["loss"].get<double>());
    run.grad_norms.push_back(json["grad_norm"].get<double>());
  }
  std::ifstream params(out + "/params/rank_0.bin", std::ios::binary);
  run.params.assign(std::istreambuf_iterator<char>(params), {});
  return run;
}

}  // namespace

BOOST_AUTO_TEST_CASE(rehearsed_graph_steps_give_the_eager_numbers_bitwise) {
  TempDir dir("cuda_graph_same");
  const std::string config = graph_job(dir, 5);
  const Run eager = rehearse(dir, config, "eager", false);
  BOOST_TEST_INFO("eager: " << eager.result.out << eager.result.err);
  BOOST_REQUIRE(eager.result.exit_code == 0);
  const Run graph = rehearse(dir, config, "graph", true);
  BOOST_TEST_INFO("graph: " << graph.result.out << graph.result.err);
  BOOST_REQUIRE(graph.result.exit_code == 0);
  BOOST_TEST(has(graph.result.out, "CUDA graph: rehearsed on the CPU (capture audited, no graph)"));
  BOOST_TEST(!has(eager.result.out, "CUDA graph"));
  BOOST_REQUIRE(eager.losses.size() == 5u);
  BOOST_REQUIRE(graph.losses.size() == 5u);
  for (std::size_t step = 0; step < 5; ++step) {
    BOOST_TEST(graph.losses[step] == eager.losses[step], "step " << step + 1 << " loss");
    BOOST_TEST(graph.grad_norms[step] == eager.grad_norms[step], "step " << step + 1 << " grad norm");
  }
  BOOST_TEST(eager.losses.back() < eager.losses.front());  // it trained
  BOOST_REQUIRE(!eager.params.empty());
  BOOST_TEST((graph.params == eager.params));
}

// A GRAPH_SAFE fixture layer that breaks the promise from its second call: the graph run fails at
// step 2 (the capture) with every part of `named` in its one message; the same job runs with the key off.
// Returns the eager run.
static Run expect_capture_failure(const std::string& fixture, int steps, const std::vector<std::string>& named) {
  TempDir dir("cuda_graph_" + fixture);
  const std::string config = graph_job(dir, steps, fixture);
  const Run graph = rehearse(dir, config, "graph", true);
  BOOST_TEST_INFO(graph.result.out << graph.result.err);
  BOOST_TEST(graph.result.exit_code == 1);
  BOOST_TEST(has(graph.result.err, "step 2: capturing the step in a CUDA graph failed in "));
  for (const std::string& part : named) BOOST_TEST(has(graph.result.err, part));
  BOOST_TEST(has(graph.result.err, "set train.cuda_graph = false to run it eagerly"));
  Run eager = rehearse(dir, config, "eager", false);
  BOOST_TEST_INFO(eager.result.out << eager.result.err);
  BOOST_TEST(eager.result.exit_code == 0);
  return eager;
}

BOOST_AUTO_TEST_CASE(a_graph_safe_layer_that_allocates_is_named) {
  const Run eager = expect_capture_failure(
      "graph_alloc", 3,
      {"hostile.scale[1] forward (microbatch 0)", "allocate (64 bytes) inside the step's CUDA graph capture region"});
  BOOST_TEST(eager.losses.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_graph_safe_layer_that_draws_random_numbers_is_named) {
  expect_capture_failure("graph_rng", 3,
                         {"hostile.scale[1] forward (microbatch 0) draws random numbers; a graph replay "
                          "would repeat them"});
}
