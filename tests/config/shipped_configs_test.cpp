// Every shipped config passes `llmrt check` where the data it names exists (check reads every
// shard a run would, so it runs from a folder holding small shards at the config's paths), and
// the summary states what the file describes.
#define BOOST_TEST_MODULE config_shipped
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <regex>

#include "data/token_shards.h"
#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::run_llmrt;
using llmrt::test::source_path;

namespace {

// A folder with the token shards the shipped configs name (data.* is relative to the working
// directory): the dgx config's fineweb train and val shards, val holding one global batch of
// 512 windows of 1024 + 1 tokens below its vocabulary.
const llmrt::test::TempDir& data_dir() {
  static const llmrt::test::TempDir dir("shipped_data");
  static const bool written = [] {
    std::filesystem::create_directories(dir.path() + "/data");
    std::vector<std::uint16_t> tokens(512 * 1024 + 1);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::uint16_t>(i * 7919 % 50257);
    return llmrt::write_token_shard(dir.path() + "/data/fineweb_train_000001.bin", tokens).ok() &&
           llmrt::write_token_shard(dir.path() + "/data/fineweb_val_000000.bin", tokens).ok();
  }();
  BOOST_REQUIRE(written);
  return dir;
}

ProcessResult check(const std::string& config) {
  const ProcessResult result = llmrt::test::run_process(
      {LLMRT_CLI_BINARY, "check", source_path("configs/" + config)}, {}, data_dir().path());
  BOOST_TEST_INFO(config << " stderr: " << result.err);
  BOOST_TEST(result.exit_code == 0);
  return result;
}

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

// A summary row: its label, then spaces, then the value ("world size        16").
bool has_row(const std::string& text, const std::string& label, const std::string& value) {
  const std::regex row("(^|\\n)" + label + " +" + value);
  return std::regex_search(text, row);
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_shipped_config_passes_check) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(source_path("configs"))) {
    if (entry.path().extension() != ".toml") continue;
    const ProcessResult result = check(entry.path().filename().string());
    BOOST_TEST(has(result.out, ": OK"));
    ++checked;
  }
  BOOST_TEST(checked >= 5);
}

BOOST_AUTO_TEST_CASE(dgx_summary_counts_devices_islands_and_power) {
  const std::string out = check("dgx-a100-2node.toml").out;
  BOOST_TEST(has_row(out, "world size", "16"));
  BOOST_TEST(has(out, "8 x A100-80GB-SXM"));
  BOOST_TEST(has(out, "infiniband, 200 Gbit/s"));
  // 16 × 400 W TDP + 2 nodes × 1900 W overhead, from the config and the catalog's A100 TDP.
  BOOST_TEST(has_row(out, "power", "10200 W"));
  // GPT-2 XL: 48 blocks of 12·C² + 13·C with C = 1600, wte + wpe, final layernorm.
  const long long C = 1600, blocks = 48 * (12 * C * C + 13 * C), embed = 50304 * C + 1024 * C;
  BOOST_TEST(has(out, "parameters: " + std::to_string(blocks + embed + 2 * C)));
}

BOOST_AUTO_TEST_CASE(mixed_workstation_has_one_nvlink_island_and_two_card_types) {
  const std::string out = check("workstation-mixed.toml").out;
  BOOST_TEST(has(out, "2 x RTX-3090 + 2 x A100-80GB-PCIE"));
  BOOST_TEST(has(out, "nvlink islands  [2-3]; GPU 0-1 alone"));
  BOOST_TEST(has(out, "RTX-3090 <-> A100-80GB-PCIE"));
}

BOOST_AUTO_TEST_CASE(default_config_under_mpirun_matches_its_two_ranks) {
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "check",
                                   source_path("configs/local-cpu.toml")};
  const ProcessResult result = llmrt::test::run_process(argv, llmrt::test::mpirun_env());
  BOOST_TEST_INFO("stderr: " << result.err);
  BOOST_TEST(result.exit_code == 0);
  BOOST_TEST(has(result.out, "MPI: 2 ranks under mpirun, matching the topology"));
  // Only rank 0 prints the summary.
  BOOST_TEST(result.out.find(": OK") == result.out.rfind(": OK"));
}
