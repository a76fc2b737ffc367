// Bad input for mixed precision: each gets exit 2 and one message naming the key.
#define BOOST_TEST_MODULE exec_mixed_precision_badinput
#include <boost/test/unit_test.hpp>

#include <string>

#include "support/process.h"
#include "support/tiny_gpt.h"

using namespace llmrt::test;

// Bad input: a loss-scale key without fp16, a scale that is not positive, an unknown fault mode.
BOOST_AUTO_TEST_CASE(loss_scale_keys_need_fp16) {
  const std::string config = source_path("configs/local-cpu.toml");
  const ProcessResult bf16 = run_llmrt({"check", config, "--set", "train.precision=\"bf16\"", "--set",
                                        "train.loss_scale_init=1024"});
  BOOST_TEST(bf16.exit_code == 2);
  BOOST_TEST(bf16.err.find("train.loss_scale_init") != std::string::npos, bf16.err);
  BOOST_TEST(bf16.err.find("applies only with train.precision = \"fp16\" or \"auto\"") != std::string::npos, bf16.err);
  const ProcessResult zero = run_llmrt({"check", config, "--set", "train.precision=\"fp16\"", "--set",
                                        "train.loss_scale_window=0"});
  BOOST_TEST(zero.exit_code == 2);
  BOOST_TEST(zero.err.find("train.loss_scale_window") != std::string::npos, zero.err);
  const ProcessResult fault = run_llmrt({"run", config, "--set", "train.steps=1", "--inject-fault", "0:1:overfloww"});
  BOOST_TEST(fault.exit_code == 2);
  BOOST_TEST(fault.err.find("stall|exit|overflow") != std::string::npos, fault.err);
}

// bf16 on cards without it (a V100) is refused before anything starts, naming the card and
// where it is, and suggesting auto or fp16; fp16 and auto on the same room pass (the GPT layers
// take f16 on CUDA: exec_mixed_precision runs that room under auto).
BOOST_AUTO_TEST_CASE(bf16_on_a_card_without_it_is_refused) {
  TempDir dir("mixed_precision_v100");
  const std::string config = dir.write("v100.toml", v100_a100_room_config(R"(precision = "bf16"
)"));
  for (const char* command : {"check", "plan", "run"}) {
    const ProcessResult result = run_llmrt({command, config});
    BOOST_TEST(result.exit_code == 2, command);
    BOOST_TEST(result.err.find("train.precision = \"bf16\": V100-32GB (on old01) has no bf16 arithmetic") !=
                   std::string::npos,
               command << ": " << result.err);
    BOOST_TEST(result.err.find("use train.precision = \"auto\" (bf16 where a card has it, fp16 with loss scaling "
                               "elsewhere) or \"fp16\"") != std::string::npos,
               result.err);
  }
  // What the message offers works: fp16 passes the cards (the V100 has fp16) and the GPT layers
  // (f16 on CUDA), and so does "auto" (bf16 for the A100s, fp16 for the V100s), where both
  // were refused while the CUDA layers ran bf16 only.
  for (const std::string precision : {"fp16", "auto"}) {
    const ProcessResult offered = run_llmrt({"check", config, "--set", "train.precision=\"" + precision + "\""});
    BOOST_TEST(offered.exit_code == 0, precision << ": " << offered.err);
    BOOST_TEST(offered.err.find("has no bf16") == std::string::npos, offered.err);
  }
}

// A loss-scale key under "auto" on cards that all have bf16 would do nothing: refused at its
// place. On a room with a V100 (fp16 under auto) the same key is the scale's.
BOOST_AUTO_TEST_CASE(a_loss_scale_key_that_nothing_would_read_is_refused) {
  const std::string config = source_path("configs/dgx-a100-2node.toml");
  const ProcessResult a100 = run_llmrt({"check", config, "--rehearse", "--set", "train.precision=\"auto\"", "--set",
                                        "train.loss_scale_window=10"});
  BOOST_TEST(a100.exit_code == 2, a100.err);
  BOOST_TEST(a100.err.find("train.loss_scale_window") != std::string::npos, a100.err);
  BOOST_TEST(a100.err.find("puts no rank of this topology in fp16") != std::string::npos, a100.err);
  const ProcessResult cpu = run_llmrt({"check", source_path("configs/local-cpu.toml"), "--set",
                                       "train.precision=\"auto\"", "--set", "train.loss_scale_init=1024"});
  BOOST_TEST(cpu.exit_code == 2, cpu.err);
  BOOST_TEST(cpu.err.find("train.loss_scale_init") != std::string::npos, cpu.err);
}
