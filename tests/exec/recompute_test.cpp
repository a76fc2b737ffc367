// Activation recompute (issue 12): the tiny GPT trained for 4 steps on CPU with train.recompute
// none, selective and full, and with per-layer overrides, on 1 rank, pp2 (1F1B and zb-h1) and
// tp2 under mpirun, gives the same losses, the same global gradient norms and the same final
// parameters, bit for bit. Bitwise, because recompute redoes the same deterministic fp32
// arithmetic on the same inputs: full recompute calls the same forward on the same input with
// the same call context, selective remakes ln1/ln2 with the row function layernorm_forward used
// and fc_act with the same GELU, rounded to the compute dtype as forward rounded them; nothing
// else changes order (weights are summed per parameter in the same microbatch order). So
// bf16 is bitwise too. And the saved state really shrinks: none > selective > full, each equal
// to the bytes the gpt layers' documented layouts give.
#define BOOST_TEST_MODULE exec_recompute
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "data/token_shards.h"
#include "support/process.h"
#include "support/tiny_gpt.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;

namespace {



struct Run {
  std::vector<double> losses, grad_norms;
  std::vector<std::string> param_files;  // each rank's dumped parameters, raw bytes
  std::string out;
};

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), {}};
}

// Trains `config` with `ranks` ranks (mpirun when > 1) and the extra --set entries.
Run train(const TempDir& dir, const std::string& config, const std::string& name, int ranks,
          const std::vector<std::string>& sets) {
  const std::string out = dir.path() + "/" + name;
  std::vector<std::string> argv;
  if (ranks > 1) argv = {"mpirun", "--oversubscribe", "-np", std::to_string(ranks)};
  for (const std::string& arg : {std::string(LLMRT_CLI_BINARY), std::string("run"), config,
                                 std::string("--dump-params"), out + "/params"}) {
    argv.push_back(arg);
  }
  std::vector<std::string> all = {"cluster.node[0].cpus.ranks=" + std::to_string(ranks), "metrics.run_dir=" + out};
  all.insert(all.end(), sets.begin(), sets.end());
  for (const std::string& set : all) {
    argv.push_back("--set");
    argv.push_back(set);
  }
  const ProcessResult result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 300);
  BOOST_TEST_INFO(name << "\nstdout: " << result.out << "\nstderr: " << result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  Run run;
  run.out = result.out + result.err;
  std::ifstream metrics(out + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto json = nlohmann::json::parse(line);
    run.losses.push_back(json["loss"].get<double>());
    run.grad_norms.push_back(json["grad_norm"].get<double>());
  }
  for (int rank = 0; rank < ranks; ++rank) {
    run.param_files.push_back(read_file(out + "/params/rank_" + std::to_string(rank) + ".bin"));
    BOOST_REQUIRE(!run.param_files.back().empty());
  }
  return run;
}

// Bitwise: the same doubles in metrics.jsonl and the same bytes in every rank's parameters.
void expect_bitwise(const Run& reference, const Run& run, const std::string& name) {
  BOOST_REQUIRE_MESSAGE(run.losses.size() == 4u, name << ": " << run.losses.size() << " steps");
  for (std::size_t step = 0; step < run.losses.size(); ++step) {
    BOOST_TEST(run.losses[step] == reference.losses[step], name << " step " << step + 1 << " loss");
    BOOST_TEST(run.grad_norms[step] == reference.grad_norms[step], name << " step " << step + 1 << " grad norm");
  }
  BOOST_REQUIRE(run.param_files.size() == reference.param_files.size());
  for (std::size_t rank = 0; rank < run.param_files.size(); ++rank) {
    BOOST_TEST((run.param_files[rank] == reference.param_files[rank]), name << ": rank " << rank << " parameters");
  }
}

// Trains under none, then under each of `variants` (extra --set lists), all bitwise equal to it.
void expect_same_under(const std::string& name, int ranks, const std::vector<std::string>& base,
                       const std::vector<std::pair<std::string, std::vector<std::string>>>& variants) {
  TempDir dir("recompute_" + name);
  const std::string config =
      llmrt::test::write_tiny_gpt_on_phrase(dir, "tiny.toml", 4);
  std::vector<std::string> none = base;
  none.push_back("train.recompute=\"none\"");
  const Run reference = train(dir, config, "none", ranks, none);
  BOOST_REQUIRE(reference.losses.back() < reference.losses.front());  // it trains: not a comparison of zeros
  for (const auto& [variant, sets] : variants) {
    std::vector<std::string> all = base;
    all.insert(all.end(), sets.begin(), sets.end());
    const Run run = train(dir, config, variant, ranks, all);
    expect_bitwise(reference, run, name + " " + variant);
  }
}

const std::vector<std::pair<std::string, std::vector<std::string>>> kModes = {
    {"selective", {"train.recompute=\"selective\""}}, {"full", {"train.recompute=\"full\""}}};

// "peak saved activations per rank: [a, b] MiB" -> {a, b}
std::vector<double> saved_mib(const std::string& out) {
  std::smatch match;
  BOOST_REQUIRE_MESSAGE(std::regex_search(out, match, std::regex(R"(peak saved activations per rank: \[([^\]]*)\] MiB)")),
                        out);
  std::vector<double> values;
  std::stringstream list(match[1].str());
  for (std::string item; std::getline(list, item, ',');) values.push_back(std::stod(item));
  return values;
}

}  // namespace

BOOST_AUTO_TEST_CASE(one_rank_fp32_and_bf16) {
  expect_same_under("one_rank", 1, {}, kModes);
  expect_same_under("one_rank_bf16", 1, {"train.precision=\"bf16\""}, kModes);
}

BOOST_AUTO_TEST_CASE(per_layer_overrides) {
  // Full on the blocks only, selective on the blocks with the head in full, and a train-wide
  // full that one block entry turns off.
  expect_same_under("per_layer", 1, {},
                    {{"blocks_full", {"model.layer[1].recompute=\"full\""}},
                     {"blocks_selective_head_full",
                      {"model.layer[1].recompute=\"selective\"", "model.layer[2].recompute=\"full\""}},
                     {"full_but_blocks", {"train.recompute=\"full\"", "model.layer[1].recompute=\"none\""}}});
}

BOOST_AUTO_TEST_CASE(pp2_1f1b_and_zb_h1) {
  expect_same_under("pp2_1f1b", 2, {"parallel.pp=2", "parallel.schedule=\"1f1b\""}, kModes);
  // zb-h1 splits backward: B, then W later, with the rerun's saved state held in between.
  expect_same_under("pp2_zbh1", 2, {"parallel.pp=2", "parallel.schedule=\"zb-h1\""}, kModes);
}

BOOST_AUTO_TEST_CASE(tp2) {
  // The rerun's forward all-reduces again, on both tp ranks in the same order.
  expect_same_under("tp2", 2, {"parallel.tp=2"}, kModes);
}

// The saved state held at its peak on one rank (pp 1: 1F1B runs F, B, W per microbatch, so one
// microbatch's state is live at a time), from the layouts gpt_layers.h documents, at f32 with
// N = B·T rows, C channels, H = 4C, NH heads: a block saves ln1, x2, ln2 (N, C), qkv (N, 3C),
// att (N, C), lse (N, NH), mean/rstd ×2 (N), fc_pre, fc_act (N, H), and for backward_weight
// d_x2, d_ln1, d_ln2 (N, C), d_qkv (N, 3C), d_fc_pre (N, H); selective drops ln1, ln2, fc_act.
// The head saves lnf (N, C) and mean, rstd, lse (N); the embedding nothing. Full keeps one
// rerun buffer, the largest layer's, at a time.
BOOST_AUTO_TEST_CASE(saved_state_shrinks) {
  TempDir dir("recompute_memory");
  const std::string config = dir.write("tiny.toml", llmrt::test::tiny_gpt_config(4));  // random tokens
  const double n = 16, c = 32, h = 4 * c, heads = 4, blocks = 4, mib = 1024.0 * 1024.0;
  const double block = 4 * (13 * n * c + 3 * n * h + n * heads + 4 * n);
  const double block_selective = block - 4 * (2 * n * c + n * h);
  const double head = 4 * (n * c + 3 * n);
  const std::map<std::string, double> expected = {{"none", blocks * block + head},
                                                  {"selective", blocks * block_selective + head},
                                                  {"full", std::max(block, head)}};
  std::map<std::string, double> measured;
  for (const auto& [mode, bytes] : expected) {
    const Run run = train(dir, config, "memory_" + mode, 1, {"train.recompute=\"" + mode + "\"", "train.steps=2"});
    const std::vector<double> figures = saved_mib(run.out);
    BOOST_REQUIRE(figures.size() == 1u);
    measured[mode] = figures[0];
    BOOST_TEST(std::abs(figures[0] - bytes / mib) < 0.0006, mode << ": " << figures[0] << " MiB, expected " << bytes / mib);
    // gpt.head declares full recompute only: under selective it keeps its state, and says so.
    const std::string stage = mode == "selective" ? "none ×1 + selective ×5" : mode;
    BOOST_TEST(run.out.find("llmrt: recompute: stage 0 " + stage + "\n") != std::string::npos, run.out);
  }
  BOOST_TEST(measured["none"] > measured["selective"]);
  BOOST_TEST(measured["selective"] > measured["full"]);
}
