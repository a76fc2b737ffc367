// `llmrt run` with the compute issue's bad inputs: each stops the run with one message naming
// the layer, file or step, and the right exit code.
#define BOOST_TEST_MODULE cli_run_badinput
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

}  // namespace

BOOST_AUTO_TEST_CASE(heads_that_do_not_divide_d_model_name_the_layer) {
  const ProcessResult result = run_llmrt({"--set", "model.layer[1].heads=5", source_path("configs/local-cpu.toml")});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "gpt.block"));
  BOOST_TEST(has(result.err, "heads = 5 does not divide d_model = 256"));
}

BOOST_AUTO_TEST_CASE(seq_len_above_the_position_table_names_the_layer) {
  const ProcessResult result =
      run_llmrt({"--set", "model.layer[0].seq_len=128", "--set", "train.steps=1", source_path("configs/local-cpu.toml")});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "gpt.embedding"));
  BOOST_TEST(has(result.err, "256"));
  BOOST_TEST(has(result.err, "128"));
}

BOOST_AUTO_TEST_CASE(token_ids_at_or_above_vocab_name_the_file_and_offset) {
  TempDir dir("run_bad_tokens");
  std::vector<std::uint16_t> tokens(4000, 7);
  tokens[1000] = 300;  // byte offset 1024 + 2000
  BOOST_REQUIRE(llmrt::write_token_shard(dir.path() + "/bad.bin", tokens).ok());
  const ProcessResult result = run_llmrt({"--set", "data.train=" + dir.path() + "/bad.bin", "--set", "train.steps=2",
                                          source_path("configs/local-cpu.toml")});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, dir.path() + "/bad.bin: token 300 at byte offset 3024 is not below vocab_size = 256"));
}

BOOST_AUTO_TEST_CASE(a_non_finite_loss_stops_with_step_and_microbatch) {
  // An absurd learning rate blows the weights up after the first update.
  const ProcessResult result = run_llmrt({"--set", "train.optimizer.lr=1e30", "--set", "train.grad_clip=0.0", "--set",
                                          "train.lr_schedule.warmup_steps=0", "--set", "train.steps=5",
                                          source_path("configs/local-cpu.toml")});
  BOOST_TEST_INFO(result.err << result.out);
  BOOST_TEST(result.exit_code == 1);
  BOOST_TEST(std::regex_search(result.err, std::regex(R"(step \d+, microbatch \d+: the loss is (nan|inf|-nan))")));
  BOOST_TEST(has(result.err, "no checkpoint written"));
}

BOOST_AUTO_TEST_CASE(a_global_batch_that_microbatches_do_not_divide) {
  const ProcessResult result = run_llmrt({"--set", "train.global_batch=7", source_path("configs/local-cpu.toml")});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  // The value came from the command line, so the message points there.
  BOOST_TEST(has(result.err, "--set: train.global_batch: global_batch = 7 is not a multiple of microbatch_size = 2"));
}
