// CPU training throughput of llmrt on one rank, beside its PyTorch peer bench/torch_gpt_ref.py:
// the same GPT shape, random tokens, AdamW, median step time after warm-up. Prints one JSON line.
//   bench_train_cpu --layers 4 --d-model 256 --heads 4 --seq 256 --vocab 256 --batch 8 --threads 2
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "job/job.h"

namespace {

struct Shape {
  int layers = 4, d_model = 256, heads = 4, seq = 256, vocab = 256, batch = 8, steps = 20, warmup = 3, threads = 2;
};

std::string config_for(const Shape& shape) {
  return fmt::format(R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = {{ ranks = 1, threads_per_rank = {} }}
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
[parallel]
pp = 1
tp = 1
dp = 1
microbatch_size = {}
[train]
steps = {}
global_batch = {}
grad_clip = 0.0
optimizer = {{ component = "adamw", lr = 3e-4, weight_decay = 0.1 }}
)",
                     shape.threads, shape.seq, shape.vocab, shape.d_model, shape.layers, shape.d_model, shape.heads,
                     shape.batch, shape.steps + shape.warmup, shape.batch);
}

int run(const Shape& shape) {
  const std::string path = fmt::format("/tmp/llmrt_bench_{}.toml", getpid());
  if (FILE* file = std::fopen(path.c_str(), "w")) {
    std::fputs(config_for(shape).c_str(), file);
    std::fclose(file);
  }
  // The product's path: open (threads_per_rank set before the plugins load), resolve, build.
  llmrt::World world;
  auto job = llmrt::start_training(llmrt::JobRequest{path, {}, false, /*trains=*/true}, world);
  std::remove(path.c_str());
  if (!job) return std::fprintf(stderr, "%s\n", job.error().message().c_str()), 2;
  llmrt::Trainer* trainer = &job->trainer();
  std::vector<double> seconds;
  double loss_first = 0, loss_last = 0, flops = 0;
  for (int step = 0; step < shape.warmup + shape.steps; ++step) {
    auto report = trainer->train_step();
    if (!report) return std::fprintf(stderr, "%s\n", report.error().message().c_str()), 1;
    if (step == 0) loss_first = report->loss;
    loss_last = report->loss;
    flops = report->flops;
    if (step >= shape.warmup) seconds.push_back(report->seconds);
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double tokens = double(shape.batch) * shape.seq;
  nlohmann::json out = {{"impl", "llmrt"}, {"device", "cpu"}, {"threads", shape.threads},
                        {"params", trainer->params().params().size()},
                        {"shape", {{"layers", shape.layers}, {"d_model", shape.d_model}, {"heads", shape.heads},
                                   {"seq", shape.seq}, {"vocab", shape.vocab}, {"batch", shape.batch}}},
                        {"tokens_per_s", tokens / median}, {"step_ms_median", median * 1e3},
                        {"gflops_per_s", flops / median / 1e9}, {"loss_first", loss_first}, {"loss_last", loss_last}};
  std::puts(out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Shape shape;
  CLI::App app("llmrt CPU training benchmark (peer: bench/torch_gpt_ref.py)");
  app.add_option("--layers", shape.layers);
  app.add_option("--d-model", shape.d_model);
  app.add_option("--heads", shape.heads);
  app.add_option("--seq", shape.seq);
  app.add_option("--vocab", shape.vocab);
  app.add_option("--batch", shape.batch);
  app.add_option("--steps", shape.steps);
  app.add_option("--warmup", shape.warmup);
  app.add_option("--threads", shape.threads);
  CLI11_PARSE(app, argc, argv);
  return run(shape);
}
