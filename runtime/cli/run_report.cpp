#include "cli/run_report.h"

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "topology/device_catalog.h"

namespace llmrt {

std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f} min {:.0f} s", std::floor(seconds / 60), std::fmod(seconds, 60));
  return fmt::format("{:.0f} h {:.0f} min", std::floor(seconds / 3600), std::fmod(seconds, 3600) / 60);
}

RunReporter::RunReporter(const Spec& spec, const Topology& topology, Trainer& trainer, bool launched)
    : spec_(spec), trainer_(trainer), launched_(launched), world_size_(topology.world_size()) {
  // One rank without a launcher does every device's work of its node on that node's cores.
  const PeakPrecision precision = peak_precision_for(spec.train.precision);
  const Device& first = topology.device(0);
  const int devices_used = launched ? 1 : topology.nodes().front().device_count;
  peak_flops_ = first.peak_tflops(precision) * 1e12 * devices_used;
}

void RunReporter::print_plan() const {
  std::size_t parameters = trainer_.stage().params().params().size();
  const std::string launcher_note =
      launched_ || world_size_ == 1
          ? std::string()
          : fmt::format(" (no launcher: the topology's {} ranks run as one; `mpirun -np {}` spreads them)",
                        world_size_, world_size_);
  fmt::print("llmrt: training {} ({:.2f} M parameters) on 1 rank{}: {} steps of {} microbatches × {} × {} tokens, "
             "schedule {}, optimizer {} (lr {:g}), lr schedule {}, {}\n",
             spec_.model.name, parameters / 1e6, launcher_note, spec_.train.steps, trainer_.microbatches(),
             spec_.parallel.microbatch_size, spec_.model.seq_len.value, spec_.parallel.schedule,
             spec_.train.optimizer.component.value, trainer_.optimizer().base_lr(),
             spec_.train.lr_schedule.component.value,
             spec_.data.train.empty() ? std::string("random tokens") : "data " + spec_.data.train);
  std::fflush(stdout);
}

void RunReporter::step_done(const StepReport& report) const {
  const bool last = report.step == spec_.train.steps;
  if (report.step != 1 && !last && report.step % spec_.metrics.log_every != 0) return;
  const double tokens_per_s = report.tokens / report.seconds;
  const double mfu = peak_flops_ > 0 ? report.flops / report.seconds / peak_flops_ : 0;
  fmt::print("step {:>{}}/{} | loss {:.4f} | lr {:.3e} | grad norm {:.3f} | {:.0f} tok/s | MFU {:.1f}% | "
             "{:.0f} ms | ETA {}\n",
             report.step, std::to_string(spec_.train.steps).size(), spec_.train.steps, report.loss, report.lr,
             report.grad_norm, tokens_per_s, 100 * mfu, report.seconds * 1e3,
             format_duration(report.seconds * static_cast<double>(spec_.train.steps - report.step)));
  std::fflush(stdout);
}

}  // namespace llmrt
