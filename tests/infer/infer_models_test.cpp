// A tiny GPT trained on a repeating text, kept as an llmrt model file, then: exported as a
// Hugging Face folder that transformers' GPT2LMHeadModel loads with the same logits; started
// from again with model.init_from (both files), giving the loss the original run's next step
// gives; sampled greedily (the text comes back) and with a seed (the same text twice); and the
// bad inputs of all three exit 2 with the option, key or tensor named. The same model trained
// with its vocabulary padded (model.vocab_pad_multiple, 256 -> 288 rows of wte) exports GPT-2's
// 256 rows, which transformers loads with llmrt's logits, and init_from re-pads either way.
#define BOOST_TEST_MODULE infer_models
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/token_shards.h"
#include "infer/hf_gpt2.h"
#include "infer/inference_model.h"
#include "ckpt/safetensors.h"
#include "infer/model_files.h"
#include "infer/model_source.h"
#include "job/job.h"
#include "config/read_spec.h"
#include "plugin/plugin_search.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::run_llmrt;
using llmrt::test::TempDir;

namespace {

constexpr int kSteps = 60;
// Period 5 against B·T = 64: sequences start at every phase of the text (generation past seq_len
// sees them all), and step 61 (60·64 tokens on, a multiple of 5) reads the same tokens as step 1.
const std::string kText = "abcde";

std::string config_text(const std::string& dir, bool tied = true, int vocab_pad_multiple = 1) {
  return fmt::format(R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = {{ ranks = 1 }}
[model]
seq_len = 16
vocab_size = 256
vocab_pad_multiple = {}
[[model.layer]]
component = "gpt.embedding"
d_model = 32
[[model.layer]]
component = "gpt.block"
repeat = 2
d_model = 32
heads = 4
[[model.layer]]
component = "gpt.head"
tied_embedding = {}
[parallel]
pp = 1
tp = 1
dp = 1
microbatch_size = 4
[train]
steps = {}
global_batch = 4
seed = 3
optimizer = {{ component = "adamw", lr = 1e-2, betas = [0.9, 0.95], eps = 1e-8, weight_decay = 0.0 }}
lr_schedule = {{ component = "constant" }}
[data]
train = "{}/text.bin"
shuffle = false  # step 61 must read step 1's tokens (see kText)
[metrics]
run_dir = "{}/run"
tensorboard = false
prometheus = ""
)",
                     vocab_pad_multiple, tied, kSteps, dir, dir);
}

// Trained once for every case: the model after kSteps steps as a file, and step kSteps + 1's loss.
struct Trained {
  TempDir dir;
  std::string config, model, hf;
  double next_loss = 0;

  explicit Trained(int vocab_pad_multiple = 1) : dir("infer_models_pad" + std::to_string(vocab_pad_multiple)) {
    std::vector<std::uint16_t> tokens;
    for (int i = 0; i < 1000; ++i) tokens.insert(tokens.end(), kText.begin(), kText.end());
    BOOST_REQUIRE(write_token_shard(dir.path() + "/text.bin", tokens).ok());
    const std::string text = config_text(dir.path(), true, vocab_pad_multiple);
    config = dir.write("job.toml", text);
    World world;
    auto job = start_training(JobRequest{config, {}, false, true}, world);
    BOOST_REQUIRE_MESSAGE(job.ok(), (job.ok() ? "" : job.error().message()));
    for (int step = 0; step < kSteps; ++step) BOOST_REQUIRE(job->trainer().train_step().ok());
    ModelTensors tensors;
    const ParamStore& params = job->trainer().params();
    for (const ParamEntry& entry : params.entries()) {
      auto values = params.params().subspan(entry.offset, entry.count);
      tensors[entry.name] = GlobalTensor{entry.global_shape, std::vector<float>(values.begin(), values.end())};
    }
    model = dir.path() + "/model.safetensors";
    BOOST_REQUIRE(write_model_tensors(model, tensors, {{"config", text}}).ok());
    auto next = job->trainer().train_step();
    BOOST_REQUIRE(next.ok());
    next_loss = next->loss;
    hf = dir.path() + "/hf";
    const auto exported = run_llmrt({"ckpt", "export", model, hf, "--format", "hf"});
    BOOST_REQUIRE_MESSAGE(exported.exit_code == 0, exported.err);
  }
};

Trained& trained() {
  static Trained instance;
  return instance;
}

// The same run with wte padded to 288 rows (96 × 3).
Trained& padded() {
  static Trained instance(96);
  return instance;
}

double first_step_loss(const std::string& init_from, const std::string& config = trained().config) {
  World world;
  const JobRequest request{config, {"train.steps=1", fmt::format("model.init_from=\"{}\"", init_from)}, false, true};
  auto job = start_training(request, world);
  BOOST_REQUIRE_MESSAGE(job.ok(), (job.ok() ? "" : job.error().message()));
  auto report = job->trainer().train_step();
  BOOST_REQUIRE(report.ok());
  return report->loss;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_hf_export_is_gpt2_shaped) {
  std::ifstream file(trained().hf + "/config.json");
  const auto config = nlohmann::json::parse(file);
  BOOST_TEST(config["model_type"] == "gpt2");
  BOOST_TEST(config["n_embd"] == 32);
  BOOST_TEST(config["n_layer"] == 2);
  BOOST_TEST(config["n_head"] == 4);
  BOOST_TEST(config["n_positions"] == 16);
  BOOST_TEST(config["vocab_size"] == 256);
  BOOST_TEST(config["activation_function"] == "gelu_new");
  auto weights = SafetensorsFile::open(trained().hf + "/model.safetensors");
  BOOST_REQUIRE(weights.ok());
  BOOST_TEST(weights->entries().at("transformer.h.1.attn.c_attn.weight").shape == (std::vector<std::int64_t>{32, 96}));
  BOOST_TEST(weights->entries().at("transformer.h.0.mlp.c_proj.weight").shape == (std::vector<std::int64_t>{128, 32}));
  BOOST_TEST(weights->entries().at("transformer.h.0.attn.c_attn.bias").shape == (std::vector<std::int64_t>{96}));
  BOOST_TEST(!weights->contains("lm_head.weight"));  // tied to wte
}

namespace {

// llmrt's logits of `run`'s model file against transformers' of its HF export (256 classes each,
// whatever rows the model pads wte to).
void expect_transformers_logits(const std::string& python, Trained& run) {
  auto source = open_model_source(run.model, "", false);
  BOOST_REQUIRE_MESSAGE(source.ok(), (source.ok() ? "" : source.error().message()));
  auto model = InferenceModel::create(source->spec.model, source->registry, source->tensors, source->path);
  BOOST_REQUIRE(model.ok());
  const std::vector<std::int32_t> prompt = {99, 100, 101, 102, 200, 7, 97, 98, 99, 100, 101};  // "cdef", odd ids, "abcde"
  auto logits = model->logits(prompt, /*all_positions=*/true);
  BOOST_REQUIRE(logits.ok());
  BOOST_REQUIRE(logits->size() == prompt.size() * 256);
  const std::string tokens_path = run.dir.write("prompt.json", nlohmann::json(prompt).dump());
  const std::string out_path = run.dir.path() + "/hf_logits.json";
  const auto python_run = llmrt::test::run_process(
      {python, llmrt::test::source_path("tests/infer/hf_logits.py"), run.hf, tokens_path, out_path}, {}, "", 300);
  BOOST_REQUIRE_MESSAGE(python_run.exit_code == 0, python_run.err);
  std::ifstream file(out_path);
  const auto theirs = nlohmann::json::parse(file);
  BOOST_REQUIRE(theirs.size() == prompt.size());
  double worst = 0, largest = 0;
  for (std::size_t t = 0; t < prompt.size(); ++t) {
    for (std::size_t v = 0; v < 256; ++v) {
      const double ours = (*logits)[t * 256 + v];
      worst = std::max(worst, std::abs(ours - theirs[t][v].get<double>()));
      largest = std::max(largest, std::abs(ours));
    }
  }
  BOOST_TEST_MESSAGE("max |llmrt - transformers| logit difference " << worst << " (largest logit " << largest << ")");
  BOOST_TEST(largest > 1.0);  // a trained model, not zeros
  BOOST_TEST(worst < 1e-4);
  // The last position alone (what generation asks for) is the same row.
  auto last = model->logits(prompt);
  BOOST_REQUIRE(last.ok());
  for (std::size_t v = 0; v < 256; ++v) BOOST_TEST(std::abs((*last)[v] - (*logits)[(prompt.size() - 1) * 256 + v]) < 1e-5);
}

}  // namespace

BOOST_AUTO_TEST_CASE(transformers_gives_the_same_logits) {
  const std::string python = llmrt::test::tools_python("transformers, torch");
  if (python.empty()) {
    BOOST_TEST_MESSAGE("SKIP: no Python with transformers and torch (scripts/install-tools.sh)");
    return;
  }
  BOOST_TEST_CONTEXT("unpadded") { expect_transformers_logits(python, trained()); }
  BOOST_TEST_CONTEXT("vocabulary padded to 288") { expect_transformers_logits(python, padded()); }
}

// The padded run keeps (288, 32) in its model file, rows 256.. zero, and exports GPT-2's 256 rows.
BOOST_AUTO_TEST_CASE(a_padded_model_exports_the_real_vocabulary) {
  auto file = SafetensorsFile::open(padded().model);
  BOOST_REQUIRE(file.ok());
  BOOST_REQUIRE((file->entries().at("wte").shape == std::vector<std::int64_t>{288, 32}));
  auto wte = file->read_f32("wte");
  BOOST_REQUIRE(wte.ok());
  BOOST_TEST(std::count(wte->begin() + 256 * 32, wte->end(), 0.0f) == 32 * 32);
  BOOST_TEST(std::count(wte->begin(), wte->begin() + 256 * 32, 0.0f) < 10);  // the real rows trained
  std::ifstream config_file(padded().hf + "/config.json");
  BOOST_TEST(nlohmann::json::parse(config_file)["vocab_size"] == 256);
  auto hf = SafetensorsFile::open(padded().hf + "/model.safetensors");
  BOOST_REQUIRE(hf.ok());
  BOOST_TEST((hf->entries().at("transformer.wte.weight").shape == std::vector<std::int64_t>{256, 32}));
  auto exported = hf->read_f32("transformer.wte.weight");
  BOOST_REQUIRE(exported.ok());
  BOOST_TEST(std::equal(exported->begin(), exported->end(), wte->begin()));
}

// init_from across paddings: the padded run's file (and its 256-row HF export) into the padded
// config, the unpadded file into the padded config and the padded file into the unpadded one,
// each continuing with its run's step kSteps + 1 loss (within rounding where the GEMMs change shape).
BOOST_AUTO_TEST_CASE(init_from_repads_the_vocabulary) {
  const double padded_next = padded().next_loss;
  BOOST_TEST(std::abs(padded_next - trained().next_loss) <= 1e-4 * trained().next_loss);  // same training
  const struct {
    std::string file, config;
    double want, tolerance;
  } cases[] = {{padded().model, padded().config, padded_next, 1e-6},
               {padded().hf + "/model.safetensors", padded().config, padded_next, 1e-6},
               {trained().model, padded().config, trained().next_loss, 1e-5},
               {padded().model, trained().config, padded_next, 1e-5}};
  for (const auto& c : cases) {
    const double got = first_step_loss(c.file, c.config);
    BOOST_TEST(std::abs(got - c.want) <= c.tolerance * std::abs(c.want) + 1e-7,
               c.file << " into " << c.config << ": " << got << " vs " << c.want);
  }
}

BOOST_AUTO_TEST_CASE(init_from_continues_the_run) {
  const double from_llmrt = first_step_loss(trained().model);
  const double from_hf = first_step_loss(trained().hf + "/model.safetensors");
  BOOST_TEST_MESSAGE("step " << kSteps + 1 << " loss " << trained().next_loss << "; init_from: " << from_llmrt
                              << " (llmrt file), " << from_hf << " (hf)");
  BOOST_TEST(trained().next_loss < 1.0);  // it learned the text (ln 256 = 5.5 at the start)
  BOOST_TEST(std::abs(from_llmrt - trained().next_loss) <= 1e-6 * std::abs(trained().next_loss) + 1e-7);
  BOOST_TEST(std::abs(from_hf - trained().next_loss) <= 1e-6 * std::abs(trained().next_loss) + 1e-7);
}

BOOST_AUTO_TEST_CASE(init_from_of_another_shape_exits_2_naming_the_tensor) {
  for (const std::string command : {"check", "run"}) {
    const auto result = run_llmrt({command, trained().config, "--set", "model.vocab_size=300", "--set",
                                   fmt::format("model.init_from=\"{}\"", trained().model)});
    BOOST_TEST(result.exit_code == 2, command << ": " << result.err);
    BOOST_TEST(result.err.find("model.init_from") != std::string::npos, result.err);
    BOOST_TEST(result.err.find("tensor wte has shape [256, 32], the model needs [300, 32]") != std::string::npos, result.err);
    BOOST_TEST(result.err.find("vocab_size = 256") != std::string::npos, result.err);
  }
  const auto hf = run_llmrt({"check", trained().config, "--set", "model.layer[1].d_model=48", "--set",
                             "model.layer[0].d_model=48", "--set",
                             fmt::format("model.init_from=\"{}/model.safetensors\"", trained().hf)});
  BOOST_TEST(hf.exit_code == 2, hf.err);
  BOOST_TEST(hf.err.find("tensor transformer.wte.weight has shape [256, 32], the model needs [256, 48]") != std::string::npos, hf.err);
  const auto missing = run_llmrt({"check", trained().config, "--set", "model.init_from=\"/nonexistent/model.safetensors\""});
  BOOST_TEST(missing.exit_code == 2, missing.err);
  BOOST_TEST(missing.err.find("model.init_from") != std::string::npos, missing.err);
}

BOOST_AUTO_TEST_CASE(greedy_sampling_gives_back_the_text) {
  std::string expected;
  while (expected.size() < 4 + 28) expected += kText;
  for (Trained* run : {&trained(), &padded()}) {  // the padded model's sampler sees 256 logits, not 288
    const auto result = run_llmrt({"sample", run->model, "--prompt", "abcd", "--temperature", "0", "--tokens", "28"});
    BOOST_TEST_REQUIRE(result.exit_code == 0, result.err);
    BOOST_TEST(result.out == expected.substr(0, 4 + 28) + "\n", run->model);  // past seq_len = 16 too
  }
}

BOOST_AUTO_TEST_CASE(one_seed_gives_one_text) {
  auto sample = [](const std::string& seed) {
    return run_llmrt({"sample", trained().model, "--prompt", "q", "--temperature", "2", "--top-k", "0", "--seed", seed,
                      "--tokens", "40"});
  };
  const auto first = sample("11"), again = sample("11"), other = sample("12");
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.err);
  BOOST_TEST(first.out.size() > 1u + 40u - 1u);
  BOOST_TEST(first.out == again.out);
  BOOST_TEST(first.out != other.out);  // at temperature 2 over 256 bytes, 40 draws do not repeat
}

BOOST_AUTO_TEST_CASE(bad_sample_and_export_input_exits_2_naming_the_option) {
  const std::string model = trained().model;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"sample", model, "--prompt", "ab", "--tokens", "0"}, "--tokens"},
      {{"sample", model, "--prompt", "ab", "--temperature", "-1"}, "--temperature"},
      {{"sample", model, "--prompt", ""}, "--prompt"},
      {{"sample", model}, "--prompt"},
      {{"sample", trained().dir.path() + "/nothing.safetensors", "--prompt", "ab"}, "nothing.safetensors: no such"},
      {{"sample", trained().config, "--prompt", "ab"}, "job.toml"},
      {{"sample", trained().dir.path(), "--prompt", "ab"}, "neither a step folder"},
      {{"ckpt", "export", model, trained().dir.path() + "/x.safetensors"}, "not a checkpoint folder"},
      {{"ckpt", "export", model, trained().hf, "--format", "hf"}, "already exists"},
      {{"ckpt", "export", model, trained().dir.path() + "/x", "--format", "onnx"}, "--format"},
  };
  for (const auto& [args, named] : cases) {
    const auto result = run_llmrt(args);
    BOOST_TEST(result.exit_code == 2, args.back() << ": " << result.err);
    BOOST_TEST(result.err.find(named) != std::string::npos, named << " in: " << result.err);
  }
}

BOOST_AUTO_TEST_CASE(models_that_are_not_gpt2_are_refused_with_the_reason) {
  auto registry = load_plugins(PluginSearchOptions{});
  BOOST_REQUIRE(registry.ok());
  const std::string path = trained().dir.write("untied.toml", config_text(trained().dir.path(), false));
  auto spec = read_spec(path);
  BOOST_REQUIRE(spec.ok());
  auto map = gpt2_map(spec->model, *registry);
  BOOST_REQUIRE(!map.ok());
  BOOST_TEST(map.error().message().find("not tied") != std::string::npos, map.error().message());
}
