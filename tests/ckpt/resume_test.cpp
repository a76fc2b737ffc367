// Checkpoints under real crashes and layout changes: the tiny GPT under mpirun, killed with
// SIGKILL during a step and halfway through a checkpoint write, restarted, continues with the
// losses of the uninterrupted run bit for bit (CPU, fp32); a checkpoint of pp2 resumed on dp2
// and one of one rank on pp2·tp2 continue within fp32 rounding; a damaged checkpoint file is
// caught by its CRC-32 and the previous checkpoint used; a write that fails for lack of space
// leaves the previous checkpoint intact and stops the run with exit 1.
#define BOOST_TEST_MODULE ckpt_resume
#include <boost/test/unit_test.hpp>

#include <sys/mount.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "ckpt/checkpoint_read.h"
#include "ckpt_run.h"

using namespace ckpt_test;
namespace fs = std::filesystem;

namespace {

// The step a run says it resumed at, or -1.
std::int64_t resumed_step(const ProcessResult& r) {
  const std::size_t at = r.out.find(" at step ");
  if (r.out.find("resumed from ") == std::string::npos || at == std::string::npos) return -1;
  return std::stoll(r.out.substr(at + 9));
}

void expect_equal_after(const std::map<std::int64_t, double>& got, const std::map<std::int64_t, double>& want,
                        std::int64_t after, double relative) {
  BOOST_REQUIRE_EQUAL(want.size(), 6u);
  for (std::int64_t step = after + 1; step <= 6; ++step) {
    BOOST_REQUIRE_MESSAGE(got.count(step) == 1, "no loss for step " << step);
    const double a = got.at(step), b = want.at(step);
    if (relative == 0) {
      BOOST_TEST(a == b, "step " << step << ": " << a << " vs " << b << " (bit for bit)");
    } else {
      BOOST_TEST(std::abs(a - b) <= relative * std::abs(b), "step " << step << ": " << a << " vs " << b);
    }
  }
}

std::vector<std::string> ckpt_sets(const std::string& dir, int every, const std::string& resume = "auto") {
  return {"checkpoint.dir=\"" + dir + "\"", "checkpoint.every=" + std::to_string(every), "checkpoint.keep=3",
          "checkpoint.resume=\"" + resume + "\""};
}

bool any_tmp(const std::string& dir) {
  for (const auto& item : fs::directory_iterator(dir)) {
    if (item.path().extension() == ".tmp") return true;
  }
  return false;
}

// The parameters of two checkpoints agree as exec_layouts compares layouts: relative L2 error of
// the whole model, and of each tensor against max(its norm, its size × the model's RMS), < `relative`.
void expect_same_model(const std::string& a, const std::string& b, double relative) {
  auto ma = llmrt::read_checkpoint_model(a), mb = llmrt::read_checkpoint_model(b);
  BOOST_REQUIRE(ma.ok());
  BOOST_REQUIRE(mb.ok());
  BOOST_REQUIRE_EQUAL(ma->size(), mb->size());
  double distance = 0, norm = 0, count = 0;
  std::map<std::string, std::pair<double, double>> per;  // name → (distance², norm²)
  for (const auto& [name, tensor] : *mb) {
    const auto& got = ma->at(name).values;
    BOOST_REQUIRE_EQUAL(tensor.values.size(), got.size());
    double d = 0, n = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      d += (double(got[i]) - tensor.values[i]) * (double(got[i]) - tensor.values[i]);
      n += double(tensor.values[i]) * tensor.values[i];
    }
    per[name] = {d, n};
    distance += d;
    norm += n;
    count += double(got.size());
  }
  BOOST_REQUIRE(norm > 0);
  BOOST_TEST(std::sqrt(distance / norm) < relative, "relative error of all parameters " << std::sqrt(distance / norm));
  const double rms2 = norm / count;
  for (const auto& [name, dn] : per) {
    const double error = std::sqrt(dn.first / std::max(dn.second, double(mb->at(name).values.size()) * rms2));
    BOOST_TEST(error < relative, name << ": relative error " << error);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(killed_during_a_step_resumes_bit_for_bit) {
  TempDir dir("ckpt_kill_step");
  const std::string config = write_config(dir);
  const Degrees pp2{2, 1, 1};
  const ProcessResult ref = run(config, pp2, dir.path() + "/ref", {});
  BOOST_REQUIRE_MESSAGE(ref.exit_code == 0, describe(ref));
  const auto want = losses(dir.path() + "/ref");

  const std::string ck = dir.path() + "/ck";
  const ProcessResult killed = run(config, pp2, dir.path() + "/a", ckpt_sets(ck, 1), {"--inject-fault", "1:5:kill"});
  BOOST_TEST_INFO(describe(killed));
  BOOST_REQUIRE(killed.exit_code != 0);
  BOOST_TEST(killed.err.find("rank 1 is killed at step 5") != std::string::npos);
  const ProcessResult resumed = run(config, pp2, dir.path() + "/b", ckpt_sets(ck, 1));
  BOOST_REQUIRE_MESSAGE(resumed.exit_code == 0, describe(resumed));
  const std::int64_t step = resumed_step(resumed);
  BOOST_TEST_INFO(resumed.out);
  BOOST_TEST(step >= 3);  // the checkpoints of steps 1..3 at least were complete before the kill
  BOOST_TEST(step <= 4);
  BOOST_TEST(resumed.out.find("(layout pp2 tp1 dp1)") != std::string::npos);
  expect_equal_after(losses(dir.path() + "/b"), want, step, 0);
  BOOST_TEST(!any_tmp(ck));
  // checkpoint.keep = 3: the newest three are left.
  const auto kept = llmrt::complete_step_dirs(ck);
  BOOST_REQUIRE_EQUAL(kept.size(), 3u);
  BOOST_TEST(kept[0] == ck + "/step_00000006");
  BOOST_TEST(kept[2] == ck + "/step_00000004");
}

BOOST_AUTO_TEST_CASE(killed_during_a_checkpoint_write_resumes_from_the_previous_one_bit_for_bit) {
  TempDir dir("ckpt_kill_write");
  const std::string config = write_config(dir);
  const Degrees pp2{2, 1, 1};
  const ProcessResult ref = run(config, pp2, dir.path() + "/ref", {});
  BOOST_REQUIRE_MESSAGE(ref.exit_code == 0, describe(ref));

  const std::string ck = dir.path() + "/ck";
  const ProcessResult killed = run(config, pp2, dir.path() + "/a", ckpt_sets(ck, 2), {"--inject-fault", "0:4:ckpt-kill"});
  BOOST_TEST_INFO(describe(killed));
  BOOST_REQUIRE(killed.exit_code != 0);
  BOOST_TEST(killed.err.find("killed while writing") != std::string::npos);
  BOOST_TEST(fs::exists(ck + "/step_00000004.tmp"));  // what the crash left: never read
  BOOST_TEST(!fs::exists(ck + "/step_00000004"));
  BOOST_TEST(fs::exists(ck + "/step_00000002/manifest.json"));

  const ProcessResult resumed = run(config, pp2, dir.path() + "/b", ckpt_sets(ck, 2));
  BOOST_REQUIRE_MESSAGE(resumed.exit_code == 0, describe(resumed));
  BOOST_TEST(resumed_step(resumed) == 2);
  expect_equal_after(losses(dir.path() + "/b"), losses(dir.path() + "/ref"), 2, 0);
  BOOST_TEST(!any_tmp(ck));
  BOOST_TEST(fs::exists(ck + "/step_00000006/manifest.json"));
}

BOOST_AUTO_TEST_CASE(pp2_resumed_on_dp2_continues_within_fp32_rounding) {
  TempDir dir("ckpt_pp2_dp2");
  const std::string config = write_config(dir);
  const std::string ck = dir.path() + "/ck";
  const ProcessResult a = run(config, {2, 1, 1}, dir.path() + "/a", ckpt_sets(ck, 3));
  BOOST_REQUIRE_MESSAGE(a.exit_code == 0, describe(a));
  const std::string ck2 = dir.path() + "/ck2";
  const ProcessResult b = run(config, {1, 1, 2}, dir.path() + "/b", ckpt_sets(ck2, 3, ck + "/step_00000003"));
  BOOST_REQUIRE_MESSAGE(b.exit_code == 0, describe(b));
  BOOST_TEST(b.out.find("at step 3 (layout pp2 tp1 dp1 → pp1 tp1 dp2, resharded)") != std::string::npos, b.out);
  expect_equal_after(losses(dir.path() + "/b"), losses(dir.path() + "/a"), 3, 1e-5);
  expect_same_model(ck2 + "/step_00000006", ck + "/step_00000006", 1e-5);
}

BOOST_AUTO_TEST_CASE(one_rank_resumed_on_pp2_tp2_continues_within_fp32_rounding) {
  TempDir dir("ckpt_1_pp2tp2");
  const std::string config = write_config(dir);
  const std::string ck = dir.path() + "/ck";
  const ProcessResult a = run(config, {1, 1, 1}, dir.path() + "/a", ckpt_sets(ck, 3));
  BOOST_REQUIRE_MESSAGE(a.exit_code == 0, describe(a));
  const std::string ck2 = dir.path() + "/ck2";
  const ProcessResult b = run(config, {2, 2, 1}, dir.path() + "/b", ckpt_sets(ck2, 3, ck + "/step_00000003"));
  BOOST_REQUIRE_MESSAGE(b.exit_code == 0, describe(b));
  BOOST_TEST(b.out.find("(layout pp1 tp1 dp1 → pp2 tp2 dp1, resharded)") != std::string::npos, b.out);
  expect_equal_after(losses(dir.path() + "/b"), losses(dir.path() + "/a"), 3, 1e-5);
  // pp2·tp2 wrote four files, the tied embedding once; read back whole it is the one-rank model.
  auto manifest = llmrt::read_manifest(ck2 + "/step_00000006");
  BOOST_REQUIRE(manifest.ok());
  BOOST_TEST(manifest->files.size() == 4u);
  expect_same_model(ck2 + "/step_00000006", ck + "/step_00000006", 1e-5);
}

BOOST_AUTO_TEST_CASE(a_damaged_file_is_caught_by_its_checksum_and_the_previous_checkpoint_used) {
  TempDir dir("ckpt_damaged");
  const std::string config = write_config(dir);
  const std::string ck = dir.path() + "/ck";
  const ProcessResult a = run(config, {}, dir.path() + "/a", ckpt_sets(ck, 2));
  BOOST_REQUIRE_MESSAGE(a.exit_code == 0, describe(a));
  const auto want = losses(dir.path() + "/a");
  const std::string file = ck + "/step_00000006/pp0-tp0.safetensors";
  {  // one bit flipped in the middle of the tensors
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(file) / 2));
    char byte = 0;
    f.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x10);
    f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
    f.write(&byte, 1);
  }
  const ProcessResult b = run(config, {}, dir.path() + "/b", ckpt_sets(ck, 2));
  BOOST_REQUIRE_MESSAGE(b.exit_code == 0, describe(b));
  BOOST_TEST(b.err.find("warning: checkpoint " + ck + "/step_00000006 is not usable: " + file + ": CRC-32") !=
             std::string::npos, b.err);
  BOOST_TEST(resumed_step(b) == 4);
  expect_equal_after(losses(dir.path() + "/b"), want, 4, 0);
  // Truncated: caught by its size, the previous one used again.
  fs::resize_file(file, fs::file_size(file) - 100);
  const ProcessResult c = run(config, {}, dir.path() + "/c", ckpt_sets(ck, 2));
  BOOST_REQUIRE_MESSAGE(c.exit_code == 0, describe(c));
  BOOST_TEST(c.err.find(file + ": ") != std::string::npos, c.err);
  BOOST_TEST(c.err.find("truncated") != std::string::npos, c.err);
  BOOST_TEST(resumed_step(c) == 4);
  expect_equal_after(losses(dir.path() + "/c"), want, 4, 0);
}

// A full disk, as RLIMIT_FSIZE with SIGXFSZ ignored makes it (write() fails with EFBIG; a
// tmpfs needs root to mount): the previous checkpoint stays, the error says so, exit 1.
BOOST_AUTO_TEST_CASE(a_write_that_runs_out_of_space_leaves_the_previous_checkpoint_and_exits_1) {
  TempDir dir("ckpt_full");
  const std::string config = write_config(dir);
  const std::string ck = dir.path() + "/ck";
  const ProcessResult a = run(config, {}, dir.path() + "/a", ckpt_sets(ck, 2), {"--set", "train.steps=4"});
  BOOST_REQUIRE_MESSAGE(a.exit_code == 0, describe(a));
  std::string command = "trap '' XFSZ; ulimit -f 64; exec";  // 64 KiB: configs and metrics fit, tensors do not
  for (const std::string& arg : run_argv(config, {}, dir.path() + "/b", ckpt_sets(ck, 2))) command += " '" + arg + "'";
  const ProcessResult b = llmrt::test::run_process({"bash", "-c", command}, {}, "", 300);
  BOOST_TEST_INFO(describe(b));
  BOOST_TEST(b.exit_code == 1);
  BOOST_TEST(b.err.find("checkpoint of step 6 not kept: ") != std::string::npos);
  BOOST_TEST(b.err.find("pp0-tp0.safetensors") != std::string::npos);
  BOOST_TEST(b.err.find("the previous one, " + ck + "/step_00000004, is intact") != std::string::npos);
  BOOST_TEST(!fs::exists(ck + "/step_00000006"));
  BOOST_TEST(!any_tmp(ck));
  auto latest = llmrt::latest_step_dir(ck);
  BOOST_REQUIRE(latest.ok());
  BOOST_TEST(*latest == ck + "/step_00000004");
  auto manifest = llmrt::read_manifest(*latest);
  BOOST_REQUIRE(manifest.ok());
  BOOST_TEST(llmrt::verify_checkpoint(*latest, *manifest).ok());
}

namespace {

// A tmpfs mounted for one test and unmounted (lazily) however the test ends.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::string& path, std::uintmax_t bytes) : path_(path) {
    fs::create_directories(path);
    const std::string options = "size=" + std::to_string((bytes + 4095) / 4096 * 4096);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

std::uintmax_t folder_bytes(const std::string& path) {
  std::uintmax_t bytes = 0;
  for (const auto& item : fs::recursive_directory_iterator(path)) {
    if (item.is_regular_file()) bytes += item.file_size();
  }
  return bytes;
}

}  // namespace

// The same on a real full disk: a tmpfs with room for one checkpoint and a half (mounting
// needs root or CAP_SYS_ADMIN; without it the case says so and skips).
BOOST_AUTO_TEST_CASE(a_full_tmpfs_leaves_the_previous_checkpoint_and_exits_1) {
  TempDir dir("ckpt_tmpfs");
  const std::string config = write_config(dir);
  const ProcessResult probe = run(config, {}, dir.path() + "/p", ckpt_sets(dir.path() + "/probe", 2),
                                  {"--set", "train.steps=2"});
  BOOST_REQUIRE_MESSAGE(probe.exit_code == 0, describe(probe));
  const std::uintmax_t one = folder_bytes(dir.path() + "/probe/step_00000002");
  const std::string ck = dir.path() + "/ck";
  SmallTmpfs disk(ck, one + one / 2);
  if (!disk.mounted()) {
    BOOST_TEST_MESSAGE("SKIP: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); the RLIMIT_FSIZE case stands in");
    return;
  }
  const ProcessResult a = run(config, {}, dir.path() + "/a", ckpt_sets(ck, 2), {"--set", "train.steps=2"});
  BOOST_REQUIRE_MESSAGE(a.exit_code == 0, describe(a));
  const ProcessResult b = run(config, {}, dir.path() + "/b", ckpt_sets(ck, 2), {"--set", "train.steps=4"});
  BOOST_TEST_INFO(describe(b));
  BOOST_TEST(b.exit_code == 1);
  BOOST_TEST(b.err.find("checkpoint of step 4 not kept: ") != std::string::npos);
  BOOST_TEST(b.err.find("the previous one, " + ck + "/step_00000002, is intact") != std::string::npos);
  BOOST_TEST(!fs::exists(ck + "/step_00000004"));
  BOOST_TEST(!any_tmp(ck));
  auto latest = llmrt::latest_step_dir(ck);
  BOOST_REQUIRE(latest.ok());
  BOOST_TEST(*latest == ck + "/step_00000002");
  auto manifest = llmrt::read_manifest(*latest);
  BOOST_REQUIRE(manifest.ok());
  BOOST_TEST(llmrt::verify_checkpoint(*latest, *manifest).ok());
}
