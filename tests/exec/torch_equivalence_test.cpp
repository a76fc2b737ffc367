// The golden test: the same tiny GPT trained by llmrt (through its real plugins) and by
// PyTorch (Debian's python3-torch) from the same weights and tokens. One step's loss and every
// gradient agree to 1e-4 relative; so do the losses of 10 AdamW steps and every parameter after
// them. AdamW's param groups are the peers' on both sides: llmrt's default (no decay on 1-D
// tensors and what layers flag no-decay) against torch's two groups (decay / no decay on biases
// and < 2-D tensors), and [[train.param_group]]s with lr scales and an explicit decay against
// the same torch groups. Skips without torch.
#define BOOST_TEST_MODULE exec_torch_equivalence
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "data/token_shards.h"
#include "job/job.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

// Adam turns the 1e-5 differences of near-zero gradients into up to 3e-4 of a bias's value
// after 10 steps (measured: 2.6e-4 at most); weight decay 1 at lr 1e-3 shrinks a tensor by 1e-3
// a step, 1e-2 over the run (a bias growing from 0: about half that), so a tensor decayed on one
// side only is off by several times this tolerance.
constexpr double kFinalTolerance = 1e-3, kWeightDecay = 1.0;
constexpr int kLayers = 2, kModel = 36, kHeads = 3, kSeq = 13, kVocab = 61, kMicro = 3, kGlobal = 6, kSteps = 10;

// One case: [[train.param_group]] tables for llmrt, and the same groups for torch_reference.py.
struct Groups {
  std::string toml;
  nlohmann::json json = nlohmann::json::array();
};

std::string config_text(const std::string& shard, const std::string& groups) {
  return fmt::format(R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = {{ ranks = 1 }}
[model]
seq_len = {}
vocab_size = {}
[[model.layer]]
component = "gpt.embedding"
d_model = {}
[[model.layer]]
component = "gpt.block"
repeat = {}
d_model = {}
heads = {}
[[model.layer]]
component = "gpt.head"
tied_embedding = true
[parallel]
pp = 1
tp = 1
dp = 1
microbatch_size = {}
[train]
steps = {}
global_batch = {}
grad_clip = 1.0
seed = 7
optimizer = {{ component = "adamw", lr = 1e-3, betas = [0.9, 0.95], eps = 1e-8, weight_decay = {} }}
lr_schedule = {{ component = "constant" }}
{}[data]
train = "{}"
shuffle = false
)",
                     kSeq, kVocab, kModel, kLayers, kModel, kHeads, kMicro, kSteps, kGlobal, kWeightDecay, groups, shard);
}

void write_inputs(const TempDir& dir, const ParamStore& params, const nlohmann::json& groups) {
  std::mt19937 generator(11);
  std::uniform_int_distribution<int> token(0, kVocab - 1);
  // A random phrase of 17 tokens, repeated: learnable, so the 10 steps must lower the loss.
  std::vector<std::uint16_t> phrase(17);
  for (auto& t : phrase) t = static_cast<std::uint16_t>(token(generator));
  std::vector<std::uint16_t> tokens(static_cast<std::size_t>(kSteps * (kGlobal / kMicro) * kMicro * kSeq + 1));
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = phrase[i % phrase.size()];
  BOOST_REQUIRE(write_token_shard(dir.path() + "/tokens.bin", tokens).ok());
  nlohmann::json index = nlohmann::json::array();
  for (const ParamEntry& entry : params.entries()) {
    index.push_back({{"name", entry.name}, {"shape", entry.global_shape}, {"offset", entry.offset},
                     {"count", entry.count}});
  }
  std::ofstream(dir.path() + "/params.json") << index.dump();
  std::ofstream(dir.path() + "/params.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(params.params().data()),
             static_cast<std::streamsize>(params.params().size() * sizeof(float)));
  nlohmann::json config = {{"d_model", kModel}, {"heads", kHeads}, {"seq_len", kSeq}, {"layers", kLayers},
                           {"microbatch", kMicro}, {"microbatches", kGlobal / kMicro}, {"steps", kSteps},
                           {"lr", 1e-3}, {"betas", {0.9, 0.95}}, {"eps", 1e-8}, {"weight_decay", kWeightDecay},
                           {"grad_clip", 1.0}, {"groups", groups}};
  std::ofstream(dir.path() + "/config.json") << config.dump();
}

std::vector<float> read_floats(const std::string& path, std::size_t count) {
  std::vector<float> values(count);
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(values.data()),
                                             static_cast<std::streamsize>(count * sizeof(float)));
  return values;
}

double relative_error(std::span<const float> a, std::span<const float> b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

// Trains kSteps with llmrt and with torch and compares the step-1 gradients, every loss and the
// final parameters.
void compare_with_torch(const Groups& groups) {
  TempDir dir("torch_equivalence");
  const std::string config_path = dir.write("job.toml", config_text(dir.path() + "/tokens.bin", groups.toml));
  // The shard must exist before the trainer opens it; its tokens are rewritten below with the weights.
  BOOST_REQUIRE(write_token_shard(dir.path() + "/tokens.bin", std::vector<std::uint16_t>(4096, 1)).ok());
  // The product's own path: open, resolve (a world of one), build.
  World world;
  const JobRequest request{config_path, {}, false, true};
  {
    auto first = start_training(request, world);
    BOOST_REQUIRE_MESSAGE(first.ok(), (first.ok() ? "" : first.error().message()));
    write_inputs(dir, first->trainer().params(), groups.json);
  }
  auto job = start_training(request, world);  // reopens the shard with the real tokens
  BOOST_REQUIRE_MESSAGE(job.ok(), (job.ok() ? "" : job.error().message()));
  Trainer* trainer = &job->trainer();

  std::vector<double> losses;
  std::vector<float> step1_grads;
  double step1_norm = 0;
  for (int step = 0; step < kSteps; ++step) {
    auto report = trainer->train_step();
    BOOST_REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message()));
    losses.push_back(report->loss);
    if (step == 0) {
      auto grads = trainer->params().grads();
      step1_grads.assign(grads.begin(), grads.end());
      step1_norm = report->grad_norm;
    }
  }
  const auto torch = llmrt::test::run_process({"/usr/bin/python3", llmrt::test::source_path("tests/exec/torch_reference.py"),
                                               dir.path()}, {}, "", 300);
  BOOST_REQUIRE_MESSAGE(torch.exit_code == 0, "torch_reference.py: " << torch.out << torch.err);
  const auto out = nlohmann::json::parse(std::ifstream(dir.path() + "/torch_out.json"));
  std::vector<float> torch_grads = read_floats(dir.path() + "/torch_grads.bin", step1_grads.size());
  const std::vector<float> torch_params = read_floats(dir.path() + "/torch_params.bin", step1_grads.size());
  // llmrt clipped its gradients in place; clip PyTorch's the same way before comparing.
  const float clip = step1_norm > 1.0 ? static_cast<float>(1.0 / (step1_norm + 1e-6)) : 1.0f;
  for (float& g : torch_grads) g *= clip;

  BOOST_TEST(std::abs(losses[0] - out["losses"][0].get<double>()) / losses[0] < 1e-4);
  const std::span<const float> final_params = trainer->params().params();
  double worst = 0;
  for (const ParamEntry& entry : trainer->params().entries()) {
    const auto ours = std::span<const float>(step1_grads).subspan(entry.offset, entry.count);
    const auto theirs = std::span<const float>(torch_grads).subspan(entry.offset, entry.count);
    BOOST_TEST(relative_error(ours, theirs) < 1e-4, entry.name << ": relative error " << relative_error(ours, theirs));
    const auto ours_final = final_params.subspan(entry.offset, entry.count);
    const auto theirs_final = std::span<const float>(torch_params).subspan(entry.offset, entry.count);
    worst = std::max(worst, relative_error(ours_final, theirs_final));
    BOOST_TEST(relative_error(ours_final, theirs_final) < kFinalTolerance,
               entry.name << " after " << kSteps << " steps: relative error " << relative_error(ours_final, theirs_final));
  }
  BOOST_TEST_MESSAGE("largest relative error of a tensor after " << kSteps << " steps: " << worst);
  for (int step = 0; step < kSteps; ++step) {
    const double theirs = out["losses"][step].get<double>();
    BOOST_TEST(std::abs(losses[step] - theirs) / theirs < 1e-4, "step " << step + 1 << ": " << losses[step] << " vs " << theirs);
  }
  BOOST_TEST(losses.back() < losses.front());  // and it learns
}

}  // namespace

BOOST_AUTO_TEST_CASE(adamw_without_decay_on_1d_tensors_and_biases_matches_pytorch_two_groups) {
  compare_with_torch(Groups{});
}

BOOST_AUTO_TEST_CASE(param_groups_with_lr_scales_and_an_explicit_decay_match_pytorch) {
  Groups groups;
  groups.toml = R"([[train.param_group]]
match = ["*.ln?_w", "*.ln?_b", "*.lnf_?"]
lr_scale = 0.5
[[train.param_group]]
match = ["*.fc_b", "*.wpe"]
lr_scale = 2.0
weight_decay = 0.05
)";
  groups.json = nlohmann::json::array(
      {{{"match", {"*.ln?_w", "*.ln?_b", "*.lnf_?"}}, {"lr_scale", 0.5}},
       {{"match", {"*.fc_b", "*.wpe"}}, {"lr_scale", 2.0}, {"weight_decay", 0.05}}});
  compare_with_torch(groups);
}

int main(int argc, char* argv[]) {
  const auto probe = llmrt::test::run_process({"/usr/bin/python3", "-c", "import torch, numpy"});
  if (probe.exit_code != 0) {
    std::printf("SKIP: /usr/bin/python3 cannot import torch (install python3-torch)\n");
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
