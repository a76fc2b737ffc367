// unbuilt_key_warnings(): every key the user writes that no feature acts on yet warns once,
// naming the key, its value, what the run does without it and where it was written; defaults
// and values that turn a feature off warn nothing.
#define BOOST_TEST_MODULE config_unbuilt_keys
#include <boost/test/unit_test.hpp>

#include "config/read_spec.h"
#include "config/unbuilt_keys.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

// Lines 1-9: a config with none of the keys.
const std::string kMinimal = R"([cluster]
[[cluster.node]]
name = "n0"
cpus = { ranks = 1 }
[model]
seq_len = 16
vocab_size = 32
[[model.layer]]
component = "gpt.block"
)";

std::vector<std::string> warnings_for(const std::string& extra, const std::vector<std::string>& overrides = {}) {
  TempDir dir("config_unbuilt_keys");
  const std::string path = dir.write("job.toml", kMinimal + extra);
  auto spec = read_spec(path, overrides);
  BOOST_REQUIRE_MESSAGE(spec.ok(), (spec.ok() ? "" : spec.error().message()));
  return unbuilt_key_warnings(*spec);
}

// Exactly one warning, which starts with `start` and contains every one of `parts`.
void expect_one(const std::vector<std::string>& warnings, const std::string& start,
                const std::vector<std::string>& parts) {
  BOOST_REQUIRE_EQUAL(warnings.size(), 1u);
  const std::string& line = warnings[0];
  BOOST_TEST_INFO("warning: " << line);
  BOOST_TEST(line.rfind(start, 0) == 0u);
  for (const std::string& part : parts) {
    BOOST_TEST_INFO("expected to contain: " << part);
    BOOST_TEST(line.find(part) != std::string::npos);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_config_without_the_keys_warns_nothing) {
  BOOST_TEST(warnings_for("").empty());
  // Spelled out at their defaults or switched off, they ask for nothing either.
  BOOST_TEST(warnings_for("[train]\nprecision = \"fp32\"\n[data]\nval = \"\"\nval_every = 0\n"
                          "[checkpoint]\nevery = 0\nresume = \"never\"\n"
                          "[metrics]\nprometheus = \"\"\ntensorboard = false\n")
                 .empty());
}

BOOST_AUTO_TEST_CASE(the_shipped_default_config_warns_nothing) {
  auto spec = read_spec(llmrt::test::source_path("configs/local-cpu.toml"));
  BOOST_REQUIRE_MESSAGE(spec.ok(), (spec.ok() ? "" : spec.error().message()));
  const std::vector<std::string> warnings = unbuilt_key_warnings(*spec);
  BOOST_TEST(warnings.empty(), "configs/local-cpu.toml warns: " << (warnings.empty() ? "" : warnings[0]));
}

BOOST_AUTO_TEST_CASE(checkpoint_keys_warn_each_with_value_and_position) {
  // Lines 10-14 of the file.
  const auto warnings =
      warnings_for("[checkpoint]\ndir = \"ckpt/x\"\nevery = 500\nkeep = 2\nresume = \"ckpt/x/step-100\"\n");
  BOOST_REQUIRE_EQUAL(warnings.size(), 4u);
  BOOST_TEST(warnings[0].rfind("checkpoint.dir = \"ckpt/x\": checkpoints are not built yet", 0) == 0u);
  BOOST_TEST(warnings[1].rfind("checkpoint.every = 500: checkpoints are not built yet; this run keeps none (", 0) == 0u);
  BOOST_TEST(warnings[1].find("job.toml:12:") != std::string::npos);
  BOOST_TEST(warnings[2].rfind("checkpoint.keep = 2: checkpoints are not built yet", 0) == 0u);
  BOOST_TEST(warnings[3].rfind("checkpoint.resume = \"ckpt/x/step-100\": resuming is not built yet", 0) == 0u);
  BOOST_TEST(warnings[3].find("step 0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(validation_keys_warn) {
  expect_one(warnings_for("[data]\nval = \"data/book_val.bin\"\n"), "data.val = \"data/book_val.bin\": ",
             {"validation is not built yet", "job.toml:11:"});
  expect_one(warnings_for("[data]\nval_every = 100\n"), "data.val_every = 100: ",
             {"validation is not built yet", "no validation loss"});
}

// The Prometheus endpoint and TensorBoard events are built: written on, they no longer warn.
BOOST_AUTO_TEST_CASE(metrics_endpoints_are_built_and_do_not_warn) {
  BOOST_TEST(warnings_for("[metrics]\nprometheus = \"127.0.0.1:9464\"\n").empty());
  BOOST_TEST(warnings_for("[metrics]\ntensorboard = true\n").empty());
}

// Mixed precision is built: bf16 and fp16 change what runs, so they no longer warn.
BOOST_AUTO_TEST_CASE(precision_is_built_and_does_not_warn) {
  BOOST_TEST(warnings_for("[train]\nprecision = \"bf16\"\n").empty());
  BOOST_TEST(warnings_for("[train]\nprecision = \"fp16\"\n").empty());
}

BOOST_AUTO_TEST_CASE(a_key_set_on_the_command_line_warns_and_says_so) {
  expect_one(warnings_for("", {"data.val_every=50"}), "data.val_every = 50: ", {"(--set"});
  BOOST_TEST(warnings_for("", {"checkpoint.dir=ckpt/y", "checkpoint.every=25"}).size() == 2u);
}
