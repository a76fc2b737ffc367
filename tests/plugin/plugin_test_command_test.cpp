// `llmrt plugins test` through the real binary: the built-in GPT layers, a C layer and the
// built-in optimizers pass every check (tp = 2 on two ranks for gpt.block); layers with a
// deliberately wrong backward (tests/plugin/hostile/mistaken_layer.c) fail, naming the check,
// with the error the mistake makes (1.5 times the gradient; one call's gradient where two
// were accumulated).
#define BOOST_TEST_MODULE plugin_test_command
#include <boost/test/unit_test.hpp>

#include <regex>
#include <string>
#include <vector>

#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::run_llmrt;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

std::string hostile(const std::string& mistake) { return std::string(HOSTILE_PLUGIN_DIR) + "/hostile_" + mistake + ".so"; }

// Every check line is PASS or SKIP, the verdict is PASS, exit 0; `expected` checks are among the PASS lines.
void require_all_pass(const ProcessResult& run, const std::vector<std::string>& expected) {
  BOOST_TEST_INFO(run.out << run.err);
  BOOST_REQUIRE_EQUAL(run.exit_code, 0);
  BOOST_TEST(!has(run.out, "FAIL"));
  BOOST_TEST(has(run.out, "verdict: PASS"));
  for (const std::string& check : expected) BOOST_TEST(has(run.out, "PASS " + check + ":"), check);
}

const std::vector<std::string> kLayerChecks = {"infer_shapes", "finite", "determinism", "accumulate"};

}  // namespace

BOOST_AUTO_TEST_CASE(gpt_layers_pass) {
  std::vector<std::string> block = kLayerChecks;
  for (const char* check : {"gradient_input", "gradient_param.qkv_w", "gradient_param.fc2_w", "gradient_param.ln1_w",
                            "grad_in_written", "backward_split", "recompute_full", "recompute_selective"}) {
    block.push_back(check);
  }
  require_all_pass(run_llmrt({"plugins", "test", "gpt.block", "--set", "heads=4"}), block);
  require_all_pass(run_llmrt({"plugins", "test", "gpt.block", "--set", "heads=2", "--set", "d_model=10", "--shape",
                              "3,7", "--seed", "9"}), block);
  std::vector<std::string> bf16 = block;
  bf16.push_back("compute_dtype_bf16");
  require_all_pass(run_llmrt({"plugins", "test", "gpt.block", "--set", "heads=4", "--dtype", "bf16"}), bf16);
  std::vector<std::string> embedding = kLayerChecks;
  embedding.push_back("gradient_param.wte");
  embedding.push_back("gradient_param.wpe");
  require_all_pass(run_llmrt({"plugins", "test", "gpt.embedding"}), embedding);
  std::vector<std::string> head = kLayerChecks;
  head.push_back("gradient_input");
  head.push_back("recompute_full");
  require_all_pass(run_llmrt({"plugins", "test", "gpt.head"}), head);
  require_all_pass(run_llmrt({"plugins", "test", "gpt.head", "--set", "tied_embedding=false"}), head);
}

BOOST_AUTO_TEST_CASE(tensor_parallel_block_on_two_ranks) {
  const ProcessResult run = llmrt::test::run_process(
      {"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "plugins", "test", "gpt.block", "--tp", "2", "--set",
       "heads=4"}, llmrt::test::mpirun_env(), "", 300);
  std::vector<std::string> checks = kLayerChecks;
  checks.push_back("tensor_parallel");
  require_all_pass(run, checks);
  BOOST_TEST(has(run.out, "tp = 2 on 2 ranks against tp = 1"));
  // Rank 0 alone prints: one verdict.
  BOOST_TEST(run.out.find("verdict:") == run.out.rfind("verdict:"));
}

BOOST_AUTO_TEST_CASE(c_layer_and_optimizers_pass) {
  std::vector<std::string> checks = kLayerChecks;
  for (const char* check : {"gradient_input", "gradient_param.w", "grad_in_written", "backward_split"}) {
    checks.push_back(check);
  }
  require_all_pass(run_llmrt({"plugins", "test", "c.scale", "--plugin",
                              std::string(PLUGIN_FIXTURE_DIR) + "/c_layer_good", "--set", "d_model=6"}), checks);
  for (const char* optimizer : {"adamw", "sgd"}) {
    require_all_pass(run_llmrt({"plugins", "test", optimizer}),
                     {"state_init", "finite", "updates", "determinism", "split_buffers"});
  }
}

// The analytic/finite-difference pair the FAIL line reports.
std::pair<double, double> reported_pair(const std::string& out) {
  const std::regex pair(R"(backward gives (\S+), the finite difference (\S+) )");
  std::smatch match;
  BOOST_REQUIRE_MESSAGE(std::regex_search(out, match, pair), out);
  return {std::stod(match[1]), std::stod(match[2])};
}

BOOST_AUTO_TEST_CASE(wrong_backward_fails_the_gradient_check) {
  const ProcessResult run = run_llmrt({"plugins", "test", "hostile.scale", "--plugin", hostile("wrong_backward"),
                                       "--set", "d_model=6"});
  BOOST_TEST_INFO(run.out << run.err);
  BOOST_TEST(run.exit_code == 1);
  BOOST_TEST(has(run.out, "FAIL gradient_param.w: "));
  BOOST_TEST(has(run.out, "PASS gradient_input: "));  // only the weight's gradient is wrong
  BOOST_TEST(has(run.out, "verdict: FAIL"));
  BOOST_TEST(has(run.err, "plugins test hostile.scale: "));
  // The fixture gives 1.5 times the gradient: so must the reported pair.
  const auto [analytic, numeric] = reported_pair(run.out);
  BOOST_TEST(analytic / numeric == 1.5, boost::test_tools::tolerance(1e-3));
}

BOOST_AUTO_TEST_CASE(overwritten_gradient_fails_accumulate) {
  const ProcessResult run = run_llmrt({"plugins", "test", "hostile.scale", "--plugin", hostile("overwrite_grad"),
                                       "--set", "d_model=6"});
  BOOST_TEST_INFO(run.out << run.err);
  BOOST_TEST(run.exit_code == 1);
  BOOST_TEST(has(run.out, "PASS gradient_param.w: "));  // one call's gradient is right
  BOOST_TEST(has(run.out, "FAIL accumulate: parameter gradients must be accumulated (+=)"));
  BOOST_TEST(has(run.out, "FAIL backward_split: "));
  // After two calls the layer holds one call's gradient: half of what was expected.
  const std::regex values(R"(FAIL accumulate: .*\(got (\S+), expected (\S+)\))");
  std::smatch match;
  BOOST_REQUIRE(std::regex_search(run.out, match, values));
  BOOST_TEST(std::stod(match[1]) / std::stod(match[2]) == 0.5, boost::test_tools::tolerance(1e-5));
}

BOOST_AUTO_TEST_CASE(infer_shapes_mistake_fails_the_shape_check) {
  const ProcessResult run = run_llmrt({"plugins", "test", "hostile.scale", "--plugin", hostile("infer_shapes"),
                                       "--set", "d_model=6"});
  BOOST_TEST_INFO(run.out << run.err);
  BOOST_TEST(run.exit_code == 1);
  // It declares (2, 5, 7) and writes (2, 5, 6): the last 10 of 70 elements stay unwritten.
  BOOST_TEST(has(run.out, "FAIL infer_shapes: output 0: infer_shapes declares (2, 5, 7) = 70 elements, but forward "
                          "left 10 of them unwritten"));
}
