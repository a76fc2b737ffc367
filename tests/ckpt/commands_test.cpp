// `llmrt ckpt inspect` and `ckpt export` read back, refusals (another model, a manifest whose
// file names leave the folder) and SIGTERM/SIGINT during training.
#define BOOST_TEST_MODULE ckpt_commands
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

#include "ckpt/safetensors.h"
#include "ckpt_run.h"

using namespace ckpt_test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> ckpt_sets(const std::string& dir, int every) {
  return {"checkpoint.dir=\"" + dir + "\"", "checkpoint.every=" + std::to_string(every)};
}

// A two-rank pp2 run that keeps step 3 and step 6 in dir/ck, its final parameters dumped.
struct Trained {
  TempDir dir{"ckpt_commands"};
  std::string config = write_config(dir);
  std::string ck = dir.path() + "/ck";
  ProcessResult result = run(config, {2, 1, 1}, dir.path() + "/a", ckpt_sets(ck, 3),
                             {"--dump-params", dir.path() + "/dump"});
};

Trained& trained() {
  static Trained instance;
  BOOST_REQUIRE_MESSAGE(instance.result.exit_code == 0, describe(instance.result));
  return instance;
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

}  // namespace

BOOST_AUTO_TEST_CASE(inspect_shows_step_layout_tensors_and_verified_checksums) {
  Trained& t = trained();
  const ProcessResult r = llmrt::test::run_llmrt({"ckpt", "inspect", t.ck});  // the folder → its latest
  BOOST_TEST_INFO(describe(r));
  BOOST_REQUIRE(r.exit_code == 0);
  BOOST_TEST(r.out.find("checkpoint " + t.ck + "/step_00000006") != std::string::npos);
  BOOST_TEST(r.out.find("step 6 (6 updates applied)") != std::string::npos);
  BOOST_TEST(r.out.find("layout pp2 tp1 dp1") != std::string::npos);
  BOOST_TEST(r.out.find("24 sequences consumed (global batch 4)") != std::string::npos);
  BOOST_TEST(r.out.find("optimizer states [m, v]") != std::string::npos);
  BOOST_TEST(std::regex_search(r.out, std::regex(R"(gpt\.block\[4\]\.qkv_w\s+\[3, 32, 32\]\s+split on dim 1)")));
  BOOST_TEST(r.out.find("pp0-tp0.safetensors") != std::string::npos);
  BOOST_TEST(r.out.find("pp1-tp0.safetensors") != std::string::npos);
  BOOST_TEST(r.out.find("checksums: all ok") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(inspect_names_a_damaged_file_and_exits_1) {
  Trained& t = trained();
  TempDir copy("ckpt_inspect_bad");
  fs::copy(t.ck + "/step_00000003", copy.path() + "/step_00000003");
  const std::string file = copy.path() + "/step_00000003/pp1-tp0.safetensors";
  fs::resize_file(file, fs::file_size(file) - 8);
  const ProcessResult r = llmrt::test::run_llmrt({"ckpt", "inspect", copy.path() + "/step_00000003"});
  BOOST_TEST_INFO(describe(r));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.out.find("pp0-tp0.safetensors") != std::string::npos);
  BOOST_TEST(r.err.find("checksum failed: " + file) != std::string::npos);
}

// The export holds the global parameters the run ended with (its --dump-params), bit for bit.
BOOST_AUTO_TEST_CASE(export_writes_the_global_model_read_back_equal_to_the_run) {
  Trained& t = trained();
  const std::string out = t.dir.path() + "/model.safetensors";
  const ProcessResult r = llmrt::test::run_llmrt({"ckpt", "export", t.ck, out});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, describe(r));
  BOOST_TEST(r.out.find("wrote " + out) != std::string::npos);
  auto file = llmrt::SafetensorsFile::open(out);
  BOOST_REQUIRE(file.ok());
  BOOST_TEST(file->metadata().at("step") == "6");
  BOOST_TEST(file->metadata().at("config").find("gpt.block") != std::string::npos);
  for (const auto& [name, entry] : file->entries()) BOOST_TEST(name.find('/') == std::string::npos, name);
  std::size_t compared = 0;
  for (int rank = 0; rank < 2; ++rank) {
    const std::string base = t.dir.path() + "/dump/rank_" + std::to_string(rank);
    const auto index = nlohmann::json::parse(read_text(base + ".json"));
    const std::string bin = read_text(base + ".bin");
    const auto* flat = reinterpret_cast<const float*>(bin.data());
    for (const auto& p : index["params"]) {
      auto values = file->read_f32(p["name"].get<std::string>());
      BOOST_REQUIRE_MESSAGE(values.ok(), p["name"]);
      const auto shape = p["global_shape"].get<std::vector<std::int64_t>>();
      BOOST_TEST(file->entries().at(p["name"].get<std::string>()).shape == shape);
      const float* local = flat + p["offset"].get<std::size_t>();
      BOOST_TEST(std::equal(values->begin(), values->end(), local), p["name"]);
      ++compared;
    }
  }
  BOOST_TEST(compared >= 6u);
  const std::string python = llmrt::test::tools_python("safetensors");
  if (python.empty()) {
    BOOST_TEST_MESSAGE("SKIP: no Python with safetensors; the export was read back by llmrt's reader only");
    return;
  }
  const ProcessResult py = llmrt::test::run_process(
      {python, "-c",
       "import sys, numpy\nfrom safetensors.numpy import load_file\nt = load_file(sys.argv[1])\n"
       "print(len(t), sum(v.size for v in t.values()), t['gpt.block[1].qkv_w'].shape)\n",
       out});
  BOOST_REQUIRE_MESSAGE(py.exit_code == 0, describe(py));
  BOOST_TEST(py.out.find("(3, 32, 32)") != std::string::npos, py.out);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_of_another_model_is_refused_naming_tensor_and_shapes) {
  Trained& t = trained();
  const ProcessResult r = run(t.config, {}, t.dir.path() + "/other",
                              {"model.layer[1].d_model=48", "model.layer[0].d_model=48", "model.layer[1].heads=4",
                               "checkpoint.resume=\"" + t.ck + "\""});
  BOOST_TEST_INFO(describe(r));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(std::regex_search(r.err, std::regex(R"(a checkpoint of another model: tensor \S+ is \[.*32.*\] there and \[.*48.*\] in this model)")));
}

BOOST_AUTO_TEST_CASE(a_manifest_whose_file_names_leave_the_folder_is_refused) {
  Trained& t = trained();
  TempDir copy("ckpt_escape");
  const std::string step = copy.path() + "/step_00000003";
  fs::copy(t.ck + "/step_00000003", step);
  std::string manifest = read_text(step + "/manifest.json");
  for (std::size_t at; (at = manifest.find("\"pp1-tp0.safetensors\"")) != std::string::npos;) {
    manifest.replace(at, 21, "\"../pp1-tp0.safetensors\"");
  }
  std::ofstream(step + "/manifest.json") << manifest;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"ckpt", "inspect", step}, std::vector<std::string>{"ckpt", "export", step, copy.path() + "/x.safetensors"}}) {
    const ProcessResult r = llmrt::test::run_llmrt(args);
    BOOST_TEST_INFO(describe(r));
    BOOST_TEST(r.exit_code == 2);
    BOOST_TEST(r.err.find("file name \"../pp1-tp0.safetensors\" leaves the checkpoint folder") != std::string::npos);
  }
  BOOST_TEST(!fs::exists(copy.path() + "/x.safetensors"));
  const ProcessResult r = run(t.config, {2, 1, 1}, copy.path() + "/run", {"checkpoint.resume=\"" + step + "\""});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(r.err.find("leaves the checkpoint folder") != std::string::npos);
}

// A signal mid-run: bash starts the run, waits for its first metrics line, sends the signal.
ProcessResult signalled_run(const TempDir& dir, const std::string& config, const std::string& signal,
                            const std::vector<std::string>& sets, Degrees degrees = {}) {
  const std::string run_dir = dir.path() + "/sig-" + signal;  // a fresh metrics.jsonl to wait for
  std::string command;
  for (const std::string& arg : run_argv(config, degrees, run_dir, sets)) command += " '" + arg + "'";
  command += " & pid=$!; for i in $(seq 600); do grep -q step '" + run_dir +
             "/metrics.jsonl' 2>/dev/null && break; sleep 0.05; done; kill -" + signal + " $pid; wait $pid";
  return llmrt::test::run_process({"bash", "-c", command}, llmrt::test::mpirun_env(), "", 300);
}

BOOST_AUTO_TEST_CASE(sigterm_keeps_a_checkpoint_and_exits_0_and_sigint_without_a_dir_exits_130) {
  TempDir dir("ckpt_signal");
  const std::string config = write_config(dir);
  const std::string ck = dir.path() + "/ck";
  const ProcessResult kept = signalled_run(dir, config, "TERM", {"train.steps=100000", "checkpoint.dir=\"" + ck + "\""});
  BOOST_TEST_INFO(describe(kept));
  BOOST_REQUIRE(kept.exit_code == 0);
  std::smatch match;
  BOOST_REQUIRE(std::regex_search(kept.out, match, std::regex(R"(stopped by SIGTERM after step (\d+); checkpoint kept in (\S+))")));
  BOOST_TEST(match[2].str() == ck + "/step_" + std::string(8 - match[1].str().size(), '0') + match[1].str());
  BOOST_TEST(fs::exists(match[2].str() + "/manifest.json"));
  const ProcessResult lost = signalled_run(dir, config, "INT", {"train.steps=100000"});
  BOOST_TEST_INFO(describe(lost));
  BOOST_TEST(lost.exit_code == 130);
  BOOST_TEST(std::regex_search(lost.err, std::regex(R"(stopped by SIGINT after step \d+; nothing was kept \(no checkpoint.dir\))")));
}

// Under mpirun, SIGTERM is mpirun ending the job (the watchdog's note says where each rank was);
// SIGUSR1, which mpirun forwards to every rank, is the graceful stop.
BOOST_AUTO_TEST_CASE(sigusr1_to_mpirun_keeps_a_checkpoint_of_both_ranks_and_exits_0) {
  TempDir dir("ckpt_signal_mpi");
  const std::string config = write_config(dir);
  const std::string ck = dir.path() + "/ck";
  const ProcessResult kept =
      signalled_run(dir, config, "USR1", {"train.steps=100000", "checkpoint.dir=\"" + ck + "\""}, {2, 1, 1});
  BOOST_TEST_INFO(describe(kept));
  BOOST_REQUIRE(kept.exit_code == 0);
  std::smatch match;
  BOOST_REQUIRE(std::regex_search(kept.out, match, std::regex(R"(stopped by SIGUSR1 after step (\d+); checkpoint kept in (\S+))")));
  const ProcessResult inspect = llmrt::test::run_llmrt({"ckpt", "inspect", match[2].str()});
  BOOST_TEST(inspect.exit_code == 0, describe(inspect));
  BOOST_TEST(inspect.out.find("pp1-tp0.safetensors") != std::string::npos);
  BOOST_TEST(inspect.out.find("step " + match[1].str() + " (") != std::string::npos);
}
