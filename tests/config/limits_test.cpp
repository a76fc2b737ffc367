// docs/config.md's "Limits": each count is accepted at its bound and refused one past it, with
// the key and the bound named (runtime/config/limits.h).
#define BOOST_TEST_MODULE config_limits
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include "config/limits.h"
#include "config/read_spec.h"
#include "support/process.h"

namespace {

std::string read_error(const std::string& override_text) {
  auto spec = llmrt::read_spec(llmrt::test::source_path("configs/local-cpu.toml"), {override_text});
  return spec.ok() ? "" : spec.error().message();
}

struct Bound {
  std::string key;       // what the override sets
  std::string shown;     // the key path the error names
  std::int64_t limit;
  std::int64_t offset;   // the override's value is limit - offset (other layers, a second group)
  std::string what;
};

BOOST_AUTO_TEST_CASE(every_count_is_accepted_at_its_bound_and_refused_past_it) {
  const std::vector<Bound> bounds = {
      {"model.seq_len", "model.seq_len", llmrt::kMaxSeqLen, 0, "tokens per sequence"},
      {"model.vocab_size", "model.vocab_size", llmrt::kMaxVocabSize, 0, "token ids"},
      {"model.vocab_pad_multiple", "model.vocab_pad_multiple", llmrt::kMaxVocabPadMultiple, 0,
       "rows the padded vocabulary rounds up to"},
      {"train.global_batch", "train.global_batch", llmrt::kMaxGlobalBatch, 0, "sequences per step"},
      {"train.steps", "train.steps", llmrt::kMaxSteps, 0, "optimizer steps"},
      {"sweep.measure_steps", "sweep.measure_steps", llmrt::kMaxSteps, 0, "optimizer steps"},
      {"parallel.dp", "parallel.dp", llmrt::kMaxDevices, 0, "devices in the cluster"},
      {"cluster.node[0].cpus.ranks", "cluster.node[0].cpus.ranks", llmrt::kMaxDevicesPerNode, 0, "devices on one node"},
      {"cluster.node[0].cpus.threads_per_rank", "cluster.node[0].cpus.threads_per_rank", llmrt::kMaxThreadsPerRank, 0,
       "threads of one rank"},
      // local-cpu.toml has an embedding, a block repeated 4 times and a head: 2 more layers.
      {"model.layer[1].repeat", "model.layer", llmrt::kMaxLayers, 2, "layers in a model, repeats counted"},
  };
  for (const Bound& bound : bounds) {
    const std::int64_t at = bound.limit - bound.offset;
    BOOST_TEST(read_error(fmt::format("{}={}", bound.key, at)) == "", bound.key << " = " << at);
    const std::string past = read_error(fmt::format("{}={}", bound.key, at + 1));
    const std::string want = fmt::format("{}: expected at most {} ({}), found {}", bound.shown, bound.limit,
                                         bound.what, bound.limit + 1);
    BOOST_TEST(past.find(want) != std::string::npos, bound.key << ": " << past);
    if (bound.shown == bound.key) BOOST_TEST(past.find("--set") == 0u, past);  // where the value came from
  }
}

BOOST_AUTO_TEST_CASE(one_group_of_gpus_and_a_node_s_groups_together_are_bounded) {
  const std::string one = read_error(fmt::format("cluster.node=[{{ name = \"a\", gpus = {{ model = \"H100-SXM\", count = {} }} }}]",
                                                 llmrt::kMaxDevicesPerNode + 1));
  BOOST_TEST(one.find("cluster.node[0].gpus.count: expected at most 1024 (devices on one node), found 1025") !=
             std::string::npos, one);
  const std::string two = read_error(
      "cluster.node=[{ name = \"a\", gpus = [{ model = \"H100-SXM\", count = 1000 }, { model = \"H200\", count = 25 }] }]");
  BOOST_TEST(two.find("cluster.node[0].gpus: expected at most 1024 (devices on one node), found 1025") !=
             std::string::npos, two);
}

}  // namespace
