// Param groups under ZeRO-1 through the real binary under mpirun: with [[train.param_group]]s
// (an lr scale, an explicit decay) and the default no-decay tensors, dp2 with parallel.zero = 1
// gives the losses and final parameters of zero = 0 bit for bit, although ZeRO-1's pieces cut
// tensors (the optimizer gets the part of each tensor a piece covers, with its group's values:
// AdamW is elementwise, so stepping a part is stepping those elements). The groups change the
// run (not a comparison of two runs that ignore them), and the run header counts them.
#define BOOST_TEST_MODULE exec_param_groups_zero
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

const std::string kGroups = R"([[train.param_group]]
match = ["*.ln?_?", "*.lnf_?"]
lr_scale = 0.25
[[train.param_group]]
match = ["*.fc_w", "*.qkv_b"]
lr_scale = 2.0
weight_decay = 0.3
)";

struct Run {
  std::vector<double> losses;
  std::vector<std::string> dumps;  // [rank] its --dump-params bytes
  std::string out;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Run run(const TempDir& dir, const std::string& config, const std::string& name, int zero) {
  const std::string out = dir.path() + "/" + name;
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "run", config,
                                   "--dump-params", out + "/params"};
  for (const std::string& set : {std::string("cluster.node[0].cpus.ranks=2"), std::string("parallel.dp=2"),
                                 "parallel.zero=" + std::to_string(zero), "metrics.run_dir=" + out}) {
    argv.insert(argv.end(), {"--set", set});
  }
  const ProcessResult result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 300);
  BOOST_TEST_INFO(name << "\nstdout: " << result.out << "\nstderr: " << result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  Run r;
  r.out = result.out;
  std::ifstream metrics(out + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) r.losses.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  for (int rank = 0; rank < 2; ++rank) r.dumps.push_back(read_file(out + "/params/rank_" + std::to_string(rank) + ".bin"));
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(dp2_zero1_with_param_groups_matches_zero0_bitwise) {
  TempDir dir("param_groups_zero");
  const std::string plain = llmrt::test::write_tiny_gpt_on_phrase(dir, "plain.toml", 5, "tensorboard = false\n");
  const std::string grouped = dir.write("grouped.toml", read_file(plain) + kGroups);
  const Run a = run(dir, grouped, "zero0", 0);
  const Run b = run(dir, grouped, "zero1", 1);
  BOOST_REQUIRE_EQUAL(a.losses.size(), 5u);
  BOOST_TEST(a.losses.back() < a.losses.front());  // it trains
  BOOST_REQUIRE_EQUAL(b.losses.size(), a.losses.size());
  for (std::size_t s = 0; s < a.losses.size(); ++s) BOOST_TEST(b.losses[s] == a.losses[s], "step " << s + 1);
  for (std::size_t rank = 0; rank < 2; ++rank) {
    BOOST_TEST(!a.dumps[rank].empty());
    BOOST_TEST((a.dumps[rank] == b.dumps[rank]), "final parameters of rank " << rank << " differ");
  }
  // The groups act: without them the same run ends elsewhere.
  const Run c = run(dir, plain, "no_groups", 1);
  BOOST_TEST((c.dumps[0] != b.dumps[0]));
  // 4 blocks of 12 + embedding's wpe + head's lnf_w, lnf_b + tied wte: 52 tensors; 4 x 8 flagged
  // in the blocks + the head's 2 without decay; groups: 4 x 4 LayerNorm + 2 + 4 x 2.
  BOOST_TEST(b.out.find("optimizer parameters of rank 0's stage: 52 tensors; no weight decay by default on 34 "
                        "(1-D or flagged no-decay); 26 in param groups") != std::string::npos,
             b.out);
}
