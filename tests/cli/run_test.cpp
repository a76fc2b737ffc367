// `llmrt run` end to end through the real binary and plugins: the default config learns from text.
#define BOOST_TEST_MODULE cli_run
#include <boost/test/unit_test.hpp>

#include <regex>

#include "data/token_shards.h"
#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;
using llmrt::test::run_llmrt;
using llmrt::test::source_path;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

std::vector<double> logged_losses(const std::string& out) {
  std::vector<double> losses;
  const std::regex line(R"(step +\d+/\d+ \| loss ([0-9.]+))");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
    losses.push_back(std::stod((*it)[1]));
  }
  return losses;
}

// Byte-level shards of a text every Debian system has.
std::string prepare_text(const TempDir& dir) {
  const ProcessResult prepared = run_llmrt({"data", "prepare", "/usr/share/common-licenses/GPL-3", dir.path() + "/gpl"});
  BOOST_REQUIRE_MESSAGE(prepared.exit_code == 0, prepared.err);
  return dir.path() + "/gpl_train.bin";
}

}  // namespace

BOOST_AUTO_TEST_CASE(default_config_learns_from_text) {
  TempDir dir("run_default");
  const std::string shards = prepare_text(dir);
  const ProcessResult result = run_llmrt({"--set", "data.train=" + shards, "--set", "train.steps=24", "--set",
                                          "metrics.log_every=4", source_path("configs/local-cpu.toml")});
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_REQUIRE(result.exit_code == 0);
  BOOST_TEST(has(result.out, "training tiny-gpt (3.29 M parameters)"));
  const std::vector<double> losses = logged_losses(result.out);
  BOOST_REQUIRE(losses.size() == 7u);  // steps 1, 4, 8, ..., 24
  BOOST_TEST(losses.front() > 5.0);     // about ln(256) at initialisation
  BOOST_TEST(losses.back() < losses.front() - 1.5);
  BOOST_TEST(has(result.out, "tok/s | MFU"));
  BOOST_TEST(has(result.out, "peak resident memory per rank: ["));
}
