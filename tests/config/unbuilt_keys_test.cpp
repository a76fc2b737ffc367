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

// Checkpoints are built (runtime/ckpt): their keys act and no longer warn.
BOOST_AUTO_TEST_CASE(checkpoint_keys_are_built_and_do_not_warn) {
  BOOST_TEST(warnings_for("[checkpoint]\ndir = \"ckpt/x\"\nevery = 500\nkeep = 2\nresume = \"ckpt/x/step-100\"\n").empty());
}

// Validation is built: its keys change what runs, so they no longer warn.
BOOST_AUTO_TEST_CASE(validation_is_built_and_does_not_warn) {
  BOOST_TEST(warnings_for("[data]\ntrain = \"data/book_train.bin\"\nval = \"data/book_val.bin\"\nval_every = 100\n")
                 .empty());
}

BOOST_AUTO_TEST_CASE(metrics_endpoints_warn_only_when_written_on) {
  expect_one(warnings_for("[metrics]\nprometheus = \"0.0.0.0:9464\"\n"), "metrics.prometheus = \"0.0.0.0:9464\": ",
             {"Prometheus endpoint is not built yet", "nothing listens"});
  // Written with its default value: the user asked for it, so it still warns.
  expect_one(warnings_for("[metrics]\ntensorboard = true\n"), "metrics.tensorboard = true: ",
             {"TensorBoard event files are not built yet", "writes none"});
}

// Mixed precision is built: bf16 and fp16 change what runs, so they no longer warn.
BOOST_AUTO_TEST_CASE(precision_is_built_and_does_not_warn) {
  BOOST_TEST(warnings_for("[train]\nprecision = \"bf16\"\n").empty());
  BOOST_TEST(warnings_for("[train]\nprecision = \"fp16\"\n").empty());
}

BOOST_AUTO_TEST_CASE(a_key_set_on_the_command_line_warns_and_says_so) {
  expect_one(warnings_for("", {"metrics.tensorboard=true"}), "metrics.tensorboard = true: ", {"(--set"});
}
