// Bad configs through the real llmrt binary: one message naming file:line:column and the key
// path, exit code 2, no crash. Each case writes the bad file, so positions are known here.
#define BOOST_TEST_MODULE config_badinput
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;
using llmrt::test::run_llmrt;

namespace {

// A valid config whose lines the cases below replace. Line numbers are 1-based.
const char* kValid = R"([cluster]
name = "t"
[[cluster.node]]
name = "n0"
gpus = { model = "A100-80GB-SXM", count = 4 }
links = [ { kind = "nvlink", gpus = "0-3" } ]
[model]
seq_len = 128
vocab_size = 512
layer = [ { component = "gpt.embedding", d_model = 64 },
  { component = "gpt.block", d_model = 64, heads = 4 },
  { component = "gpt.head" } ]
# a runnable model: `check` validates everything `run` would (bf16: the GPT layers on CUDA)
[train]
steps = 10
precision = "bf16"
)";

std::string with_line(int line, const std::string& replacement) {
  std::string text = kValid;
  std::size_t start = 0;
  for (int i = 1; i < line; ++i) start = text.find('\n', start) + 1;
  const std::size_t end = text.find('\n', start);
  return text.replace(start, end - start, replacement);
}

// Runs `llmrt check` and requires exit 2, one line on stderr containing every `expected` piece.
void expect_input_error(const std::vector<std::string>& args, const std::vector<std::string>& expected,
                        const std::vector<std::string>& env = {}) {
  const ProcessResult result = run_llmrt(args, env);
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_TEST(result.exit_code == 2);
  for (const std::string& piece : expected) BOOST_TEST(result.err.find(piece) != std::string::npos, "missing: " << piece);
  BOOST_TEST(result.err.find("llmrt: ") == 0u);
  BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1);  // one message
  BOOST_TEST(result.out.empty());  // nothing half-printed
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_valid_base_passes) {
  TempDir dir("bad_base");
  const ProcessResult result = run_llmrt({"check", dir.write("ok.toml", kValid)});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 0);
}

BOOST_AUTO_TEST_CASE(malformed_toml) {
  TempDir dir("bad_malformed");
  const std::string path = dir.write("bad.toml", with_line(8, "seq_len = = 128"));
  expect_input_error({"check", path}, {path + ":8:", "malformed TOML"});
}

BOOST_AUTO_TEST_CASE(wrong_value_type) {
  TempDir dir("bad_type");
  const std::string path = dir.write("bad.toml", with_line(15, "steps = \"ten\""));
  expect_input_error({"check", path}, {path + ":15:9: train.steps: expected an integer, found the string \"ten\""});
}

BOOST_AUTO_TEST_CASE(missing_required_key) {
  TempDir dir("bad_missing");
  const std::string path = dir.write("bad.toml", with_line(9, "# no vocab_size"));
  expect_input_error({"check", path}, {path + ":7:", "model.vocab_size: missing required key 'vocab_size'"});
}

BOOST_AUTO_TEST_CASE(zero_count) {
  TempDir dir("bad_zero");
  const std::string path = dir.write("bad.toml", with_line(5, "gpus = { model = \"A100-80GB-SXM\", count = 0 }"));
  expect_input_error({"check", path}, {path + ":5:", "cluster.node[0].gpus.count: expected a positive integer, found 0"});
}

BOOST_AUTO_TEST_CASE(negative_count) {
  TempDir dir("bad_negative");
  const std::string path = dir.write("bad.toml", with_line(8, "seq_len = -128"));
  expect_input_error({"check", path}, {path + ":8:11: model.seq_len: expected a positive integer, found -128"});
}

// model.vocab_pad_multiple: 0, negative, past its bound and not an integer, each named at its line.
BOOST_AUTO_TEST_CASE(vocab_pad_multiple_out_of_range) {
  TempDir dir("bad_vocab_pad");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0", "expected a positive integer, found 0"},
      {"-64", "expected a positive integer, found -64"},
      {"65537", "expected at most 65536 (rows the padded vocabulary rounds up to), found 65537"},
      {"1000000000000000000", "expected at most 65536"},
      {"\"128\"", "vocab_pad_multiple"}};
  for (const auto& [value, message] : cases) {
    const std::string path = dir.write("bad.toml", with_line(9, "vocab_size = 512\nvocab_pad_multiple = " + value));
    BOOST_TEST_CONTEXT("vocab_pad_multiple = " << value) {
      expect_input_error({"check", path}, {path + ":10:", "model.vocab_pad_multiple", message});
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_gpu_model_lists_the_known_ones) {
  TempDir dir("bad_model");
  const std::string path = dir.write("bad.toml", with_line(5, "gpus = { model = \"A100-80G-SXM\", count = 4 }"));
  expect_input_error({"check", path}, {path + ":5:", "cluster.node[0].gpus.model", "A100-80G-SXM", "A100-80GB-SXM",
                                       "H100-SXM", "RTX-3090", "V100-16GB"});
}

BOOST_AUTO_TEST_CASE(link_names_a_gpu_the_node_lacks) {
  TempDir dir("bad_link");
  const std::string path = dir.write("bad.toml", with_line(6, "links = [ { kind = \"nvlink\", gpus = \"0-4\" } ]"));
  expect_input_error({"check", path}, {path + ":6:", "cluster.node[0].links[0].gpus", "4"});
}

BOOST_AUTO_TEST_CASE(unknown_key_suggests_the_close_one) {
  TempDir dir("bad_unknown");
  const std::string path = dir.write("bad.toml", with_line(15, "stepz = 10"));
  expect_input_error({"check", path}, {path + ":15:9: train.stepz: unknown key 'stepz'; did you mean 'steps'?"});
}

BOOST_AUTO_TEST_CASE(include_cycle) {
  TempDir dir("bad_cycle");
  dir.write("a.toml", "include = [\"b.toml\"]\n");
  dir.write("b.toml", "include = [\"a.toml\"]\n");
  const std::string path = dir.write("main.toml", std::string("include = [\"a.toml\"]\n") + kValid);
  expect_input_error({"check", path}, {"b.toml:1:12: include[0]: include cycle:", "a.toml -> ", "b.toml -> "});
}

BOOST_AUTO_TEST_CASE(missing_include) {
  TempDir dir("bad_include");
  const std::string path = dir.write("main.toml", std::string("include = [\"cluster/none.toml\"]\n") + kValid);
  expect_input_error({"check", path}, {path + ":1:12: include[0]: included file 'cluster/none.toml' does not exist"});
}

BOOST_AUTO_TEST_CASE(set_on_a_key_that_does_not_exist) {
  TempDir dir("bad_set");
  const std::string path = dir.write("ok.toml", kValid);
  expect_input_error({"--set", "train.warmup=3", "check", path}, {"--set train.warmup=3: unknown key 'warmup'"});
  expect_input_error({"check", path, "--set", "parallel.ppp=2"}, {"--set parallel.ppp=2", "did you mean 'pp'?"});
}

BOOST_AUTO_TEST_CASE(set_with_a_value_of_the_wrong_type) {
  TempDir dir("bad_set_type");
  const std::string path = dir.write("ok.toml", kValid);
  expect_input_error({"check", path, "--set", "train.steps=\"many\""}, {"--set: train.steps: expected an integer"});
}

BOOST_AUTO_TEST_CASE(missing_config_file) {
  expect_input_error({"check", "/nonexistent/job.toml"}, {"/nonexistent/job.toml: the config file does not exist"});
}

BOOST_AUTO_TEST_CASE(fixed_degrees_that_do_not_fit_the_devices) {
  TempDir dir("bad_degrees");
  const std::string path = dir.write("bad.toml", std::string(kValid) + "[parallel]\npp = 2\ntp = 1\ndp = 1\n");
  expect_input_error({"check", path}, {path + ":18:6: parallel.pp", "does not equal the topology's 4 devices"});
}

BOOST_AUTO_TEST_CASE(world_size_under_mpirun_differs_from_the_topology) {
  TempDir dir("bad_world");
  const std::string path = dir.write("cpu.toml", R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = { ranks = 2 }
[model]
seq_len = 16
vocab_size = 32
[[model.layer]]
component = "gpt.embedding"
d_model = 8
)");
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "3", LLMRT_CLI_BINARY, "check", path};
  const ProcessResult result = llmrt::test::run_process(argv, llmrt::test::mpirun_env());
  BOOST_TEST_INFO("stderr: " << result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(result.err.find("mpirun started 3 ranks but the topology has 2 devices") != std::string::npos);
  BOOST_TEST(result.out.find("OK") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(ckpt_inspect_without_a_folder_is_a_usage_error) {
  const ProcessResult result = run_llmrt({"ckpt", "inspect"});
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(result.err.find("dir is required") != std::string::npos);
}

// A config or include that is no regular file is named as what it is before anything reads it:
// a FIFO would block `check` forever, a directory reads as nothing.
BOOST_AUTO_TEST_CASE(a_config_that_is_no_regular_file_is_refused_naming_what_it_is) {
  TempDir dir("bad_not_regular");
  const std::string fifo = dir.path() + "/job.toml";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  expect_input_error({"check", fifo}, {"job.toml", "expected a regular TOML file, found a FIFO"});
  expect_input_error({"check", dir.path()}, {"expected a regular TOML file, found a directory"});
  expect_input_error({"check", "/dev/zero"}, {"/dev/zero", "found a device"});
  const std::string main = dir.write("main.toml", std::string("include = [\"job.toml\"]\n") + kValid);
  expect_input_error({"check", main}, {"job.toml", "found a FIFO"});
}

BOOST_AUTO_TEST_CASE(a_config_of_many_mib_is_refused_before_it_is_read) {
  TempDir dir("bad_huge");
  std::string text = kValid;
  text += "# " + std::string(5u << 20, 'x') + "\n";
  expect_input_error({"check", dir.write("huge.toml", text)}, {"huge.toml", "a config is at most 4 MiB"});
}

// 64-bit values never wrap into the int they land in: each is refused naming its key.
BOOST_AUTO_TEST_CASE(integers_past_an_int_are_refused_not_wrapped) {
  TempDir dir("bad_wrap");
  const std::string path = dir.write("ok.toml", kValid);
  expect_input_error({"check", path, "--set", "parallel.pp=4294967298"},
                     {"parallel.pp", "expected a positive integer of at most 2147483647", "4294967298"});
  expect_input_error({"check", path, "--set", "parallel.microbatch_size=4294967296"},
                     {"parallel.microbatch_size", "at most 2147483647", "4294967296"});
  expect_input_error({"check", path, "--set", "model.layer[1].repeat=2147483648"},
                     {"model.layer[1].repeat", "at most 2147483647", "2147483648"});
  expect_input_error({"check", path, "--set", "parallel.stage_layers=[1, 4294967297]"},
                     {"parallel.stage_layers", "at most 2147483647", "4294967297"});
}

// `check` refuses what `run` would: a learning rate that is not positive, a schedule whose
// floor is above its peak, an optimizer key nobody declared — each naming its key.
BOOST_AUTO_TEST_CASE(learning_rate_sanity_is_checked_before_anything_runs) {
  TempDir dir("bad_lr");
  const std::string path =
      dir.write("lr.toml", std::string(kValid) + "optimizer = { component = \"adamw\", lr = 0.01 }\n"
                                                 "lr_schedule = { component = \"cosine\", warmup_steps = 5, min_lr = 0.001 }\n");
  const ProcessResult fine = run_llmrt({"check", path});
  BOOST_TEST_INFO(fine.err);
  BOOST_TEST(fine.exit_code == 0);
  expect_input_error({"check", path, "--set", "train.lr_schedule.min_lr=1.0"},
                     {"train.lr_schedule.min_lr", "min_lr = 1 is above the optimizer's lr = 0.01"});
  expect_input_error({"check", path, "--set", "train.optimizer.lr=0"},
                     {"train.optimizer.lr", "lr = 0: expected a positive, finite learning rate"});
  // A warmup longer than a shortened smoke run is fine.
  BOOST_TEST(run_llmrt({"check", path, "--set", "train.lr_schedule.warmup_steps=11"}).exit_code == 0);
  expect_input_error({"check", path, "--set", "train.optimizer.betaz=[0.9, 0.95]"},
                     {"train.optimizer.betaz", "did you mean 'betas'"});
}

// The metrics endpoint's address: malformed, or a port out of range, refused at its key.
BOOST_AUTO_TEST_CASE(metrics_endpoint_address_is_checked_at_its_key) {
  TempDir dir("bad_prometheus");
  const std::string path = dir.write("bad.toml", std::string(kValid) + "[metrics]\nprometheus = \"abc\"\n");
  expect_input_error({"check", path}, {path + ":18:", "metrics.prometheus: expected \"host:port\" or \"\", found \"abc\""});
  expect_input_error({"check", path, "--set", "metrics.prometheus=127.0.0.1:65536"},
                     {"metrics.prometheus", "port 65536 is out of range 1-65535"});
  expect_input_error({"check", path, "--set", "metrics.prometheus=127.0.0.1:0"},
                     {"metrics.prometheus", "out of range"});
  expect_input_error({"check", path, "--set", "metrics.prometheus=localhost:metrics"},
                     {"metrics.prometheus", "expected a port number", "\"metrics\""});
  expect_input_error({"check", path, "--set", "metrics.prometheus=:9464"},
                     {"metrics.prometheus", "expected a host"});
  expect_input_error({"check", path, "--set", "metrics.prometheus=::1:9464"},
                     {"metrics.prometheus", "IPv6 host in brackets"});
  // Well-formed ones pass, and "" turns the endpoint off.
  for (const char* fine : {"127.0.0.1:9464", "[::1]:9464", "localhost:1", ""}) {
    const ProcessResult result = run_llmrt({"check", path, "--set", std::string("metrics.prometheus=\"") + fine + "\""});
    BOOST_TEST_INFO(fine << ": " << result.err);
    BOOST_TEST(result.exit_code == 0);
  }
}
