#include "cli/run_report.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
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
  reporter.peak_flops_ = device.peak_tflops(peak_precision_for(spec.train.precision)) * 1e12 * devices_used;
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
             "optimizer {} (lr {:g}), lr schedule {}, {}\n",
             spec_.model.name, parameters_ / 1e6, where, spec_.train.steps, layout.microbatches, layout.microbatch_size,
             spec_.model.seq_len.value, layout.schedule, spec_.train.optimizer.component.value,
             trainer_.optimizer().base_lr(), spec_.train.lr_schedule.component.value,
             spec_.data.train.empty() ? std::string("random tokens") : "data " + spec_.data.train);
  if (!placement.empty()) fmt::print("llmrt: {}\n", placement);
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
