#include "cli/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "topology/device_catalog.h"
#include "util/memory.h"

namespace llmrt {

std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f} min {:.0f} s", std::floor(seconds / 60), std::fmod(seconds, 60));
  return fmt::format("{:.0f} h {:.0f} min", std::floor(seconds / 3600), std::fmod(seconds, 3600) / 60);
}

Result<RunReporter> RunReporter::create(const Spec& spec, const Topology& topology, Trainer& trainer,
                                        const World& world) {
  RunReporter reporter(spec, trainer, world);
  reporter.speaks_ = world.rank() == 0;
  reporter.topology_ranks_ = topology.world_size();
  // One rank without a launcher does every device's work of its node on that node's cores.
  const Device& device = topology.device(world.rank());
  const int devices_used = world.launched() ? 1 : topology.nodes().front().device_count;
  reporter.peak_flops_ = training_peak_tflops(device, spec.train.precision) * 1e12 * devices_used;
  LLMRT_ASSIGN_OR_RETURN(auto parameters, trainer.total_parameters());  // collective: every rank asks
  reporter.parameters_ = parameters;
  if (reporter.speaks_ && !spec.metrics.run_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(spec.metrics.run_dir, error);
    const std::string path = spec.metrics.run_dir + "/metrics.jsonl";
    reporter.metrics_ = std::make_unique<std::ofstream>(path, std::ios::trunc);
    if (error || !*reporter.metrics_) return runtime_error("{}: cannot write the metrics file", path);
  }
  return reporter;
}

namespace {

// "bf16", "fp16 (dynamic loss scale from 65536)", or under "auto" which ranks run what:
// "auto: bf16 on ranks 0-1, fp16 on ranks 2-3 (dynamic loss scale from 65536)".
std::string describe_precision(Precision precision, const std::vector<std::int32_t>& rank_dtypes, double loss_scale) {
  const bool any_fp16 = std::count(rank_dtypes.begin(), rank_dtypes.end(), LLMRT_DTYPE_F16) > 0;
  const std::string scale = any_fp16 ? fmt::format(" (dynamic loss scale from {:g})", loss_scale) : "";
  if (precision != Precision::kAuto) return std::string(precision_name(precision)) + scale;
  std::vector<std::string> parts;  // runs of equal dtype over the ranks, in rank order
  for (std::size_t first = 0; first < rank_dtypes.size();) {
    std::size_t last = first;
    while (last + 1 < rank_dtypes.size() && rank_dtypes[last + 1] == rank_dtypes[first]) ++last;
    const std::string ranks = first == last ? fmt::format("rank {}", first) : fmt::format("ranks {}-{}", first, last);
    const std::int32_t dtype = rank_dtypes[first];
    const char* name = dtype == LLMRT_DTYPE_BF16 ? "bf16" : dtype == LLMRT_DTYPE_F16 ? "fp16" : "fp32";
    parts.push_back(fmt::format("{} on {}", name, ranks));
    first = last + 1;
  }
  return fmt::format("auto: {}{}", fmt::join(parts, ", "), scale);
}

}  // namespace

void RunReporter::print_plan(const std::string& placement) const {
  if (!speaks_) return;
  const Layout& layout = trainer_.layout();
  const std::string where =
      world_.launched() ? fmt::format("{} ranks (pp {} · tp {} · dp {}, stage layers [{}])", layout.world_size(), layout.pp,
                              layout.tp, layout.dp, fmt::join(layout.stage_layers, ", "))
                : topology_ranks_ == 1 ? std::string("1 rank")
                                   : fmt::format("1 rank (no launcher: the topology's {} ranks run as one; "
                                                 "`mpirun -np {}` spreads them)",
                                                 topology_ranks_, topology_ranks_);
  fmt::print("llmrt: training {} ({:.2f} M parameters) on {}: {} steps of {} microbatches × {} × {} tokens per replica, schedule {}, "
             "optimizer {} (lr {:g}), lr schedule {}, {}, precision {}\n",
             spec_.model.name, parameters_ / 1e6, where, spec_.train.steps, layout.microbatches, layout.microbatch_size,
             spec_.model.seq_len.value, layout.schedule, spec_.train.optimizer.component.value,
             trainer_.optimizer().base_lr(), spec_.train.lr_schedule.component.value,
             spec_.data.train.empty() ? std::string("random tokens") : "data " + spec_.data.train,
             describe_precision(spec_.train.precision, trainer_.rank_dtypes(), trainer_.loss_scale()));
  if (!placement.empty()) fmt::print("llmrt: {}\n", placement);
  // GPU ranks: which path each group's device buffers take, NCCL or the staging path (and why).
  if (const std::string paths = trainer_.groups().device_paths(); !paths.empty()) {
    fmt::print("llmrt: GPU collectives of rank 0's groups: {}\n", paths);
  }
  std::fflush(stdout);
}

void RunReporter::step_done(const StepReport& report) const {
  if (!speaks_) return;
  const double tokens_per_s = report.tokens / report.seconds;
  const double mfu = peak_flops_ > 0 ? report.flops / report.seconds / peak_flops_ : 0;
  if (metrics_) {
    nlohmann::json line = {{"step", report.step},       {"loss", report.loss},           {"lr", report.lr},
                           {"grad_norm", report.grad_norm}, {"tokens_per_s", tokens_per_s}, {"mfu", mfu},
                           {"step_time_s", report.seconds}, {"loss_scale", report.loss_scale},
                           {"skipped", report.skipped}};
    *metrics_ << line.dump() << "\n" << std::flush;
  }
  const bool last = report.step == spec_.train.steps;
  if (report.skipped) {  // always said: a skipped update is news
    fmt::print("step {:>{}}/{} | loss {:.4f} | skipped: fp16 gradients overflowed at loss scale {:g}, now {:g}\n",
               report.step, std::to_string(spec_.train.steps).size(), spec_.train.steps, report.loss,
               report.loss_scale, trainer_.loss_scale());
    std::fflush(stdout);
    return;
  }
  if (report.step != 1 && !last && report.step % spec_.metrics.log_every != 0) return;
  fmt::print("step {:>{}}/{} | loss {:.4f} | lr {:.3e} | grad norm {:.3f} | {:.0f} tok/s | MFU {:.1f}% | "
             "{:.0f} ms | ETA {}\n",
             report.step, std::to_string(spec_.train.steps).size(), spec_.train.steps, report.loss, report.lr,
             report.grad_norm, tokens_per_s, 100 * mfu, report.seconds * 1e3,
             format_duration(report.seconds * static_cast<double>(spec_.train.steps - report.step)));
  std::fflush(stdout);
}

void RunReporter::validation_done(std::int64_t step, double loss) const {
  if (!speaks_) return;
  if (metrics_) *metrics_ << nlohmann::json{{"step", step}, {"val_loss", loss}}.dump() << "\n" << std::flush;
  fmt::print("step {} val loss {:.4f}\n", step, loss);
  std::fflush(stdout);
}

}  // namespace llmrt

namespace llmrt {

void RunReporter::finish() const {
  const double peak_mib = static_cast<double>(peak_resident_bytes()) / (1024.0 * 1024.0);
  const std::vector<double> per_rank = world_.gather(peak_mib);  // collective
  if (!speaks_) return;
  std::vector<std::string> shown;
  for (double mib : per_rank) shown.push_back(fmt::format("{:.0f}", mib));
  fmt::print("peak resident memory per rank: [{}] MiB\n", fmt::join(shown, ", "));
  std::fflush(stdout);
}

}  // namespace llmrt
