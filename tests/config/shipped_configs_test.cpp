// Every shipped config passes `llmrt check`, and the summary states what the file describes.
#define BOOST_TEST_MODULE config_shipped
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <regex>

#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::run_llmrt;
using llmrt::test::source_path;

namespace {

ProcessResult check(const std::string& config) {
  const ProcessResult result = run_llmrt({"check", source_path("configs/" + config)});
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
