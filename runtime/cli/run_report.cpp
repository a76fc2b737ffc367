#include "cli/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "device/host_devices.h"
#include "obs/nvml_reader.h"
#include "topology/device_catalog.h"
#include "util/host_port.h"
#include "util/memory.h"

namespace llmrt {

std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f} min {:.0f} s", std::floor(seconds / 60), std::fmod(seconds, 60));
  return fmt::format("{:.0f} h {:.0f} min", std::floor(seconds / 3600), std::fmod(seconds, 3600) / 60);
}

Result<RunReporter> RunReporter::create(const Spec& spec, const Topology& topology, Trainer& trainer,
                                        const World& world, ReportOptions options) {
  RunReporter reporter(spec, trainer, world);
  reporter.speaks_ = world.rank() == 0;
  reporter.topology_ranks_ = topology.world_size();
  // One rank without a launcher does every device's work of its node on that node's cores.
  const Device& device = topology.device(world.rank());
  const int devices_used = world.launched() ? 1 : topology.nodes().front().device_count;
  const double peak_tflops = training_peak_tflops(device, spec.train.precision);
  reporter.peak_flops_ = options.rehearsal ? 0 : peak_tflops * 1e12 * devices_used;
  if (options.rehearsal) {
    reporter.mfu_basis_ = fmt::format("MFU: n/a (a rehearsal: CPU ranks play the {}s whose peak it is measured against)",
                                      device.model->name);
  } else if (reporter.peak_flops_ <= 0) {
    reporter.mfu_basis_ = fmt::format("MFU: n/a (no peak FLOPS for {} in the device catalog)", device.model->name);
  } else {
    reporter.mfu_basis_ = fmt::format("MFU: model FLOPs per second over {:.1f} TFLOPS per rank ({}{}, the catalog's "
                                      "peak at the training precision)",
                                      peak_tflops * devices_used, devices_used > 1 ? fmt::format("{} × ", devices_used) : "",
                                      device.model->name);
  }
  LLMRT_ASSIGN_OR_RETURN(auto parameters, trainer.total_parameters());  // collective: every rank asks
  reporter.parameters_ = parameters;
  const std::vector<std::int32_t>& dtypes = trainer.rank_dtypes();
  reporter.fp16_ = spec.train.precision == Precision::kFp16 ||
                   std::count(dtypes.begin(), dtypes.end(), LLMRT_DTYPE_F16) > 0;
  if (!reporter.speaks_) return reporter;
  LLMRT_RETURN_IF_ERROR(reporter.open_outputs());
  reporter.start_endpoint(options);
  if (options.terminal_columns) reporter.progress_ = std::make_unique<ProgressBar>(stdout, *options.terminal_columns);
  return reporter;
}

// run_dir/metrics.jsonl and run_dir/tb/rank0/ (rank 0's events: one writer per directory).
Status RunReporter::open_outputs() {
  const std::string& run_dir = spec_.metrics.run_dir;
  if (run_dir.empty()) return Status::success();
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) return runtime_error("{}: cannot create the run directory: {}", run_dir, error.message());
  LLMRT_ASSIGN_OR_RETURN(metrics_, LineFile::create(run_dir + "/metrics.jsonl"));
  if (spec_.metrics.tensorboard.value) {
    LLMRT_ASSIGN_OR_RETURN(tensorboard_, obs::TensorBoardWriter::open(run_dir + "/tb/rank0"));
  }
  return Status::success();
}

// The endpoint on metrics.prometheus (checked when the config was read); one that cannot listen
// is a warning naming the address, and training goes on.
void RunReporter::start_endpoint(const ReportOptions& options) {
  const Located<std::string>& key = spec_.metrics.prometheus;
  if (key.value.empty()) return;
  auto address = parse_host_port(key.value);
  if (!address) return warn(fmt::format("metrics.prometheus: {}", address.error().message()));
  std::unique_ptr<obs::GpuReader> gpus = options.nvidia_gpu ? obs::open_nvml_reader() : nullptr;
  auto endpoint = obs::PrometheusEndpoint::start(*address, std::move(gpus), this_host_name());
  if (!endpoint) {
    const SourcePos& pos = key.pos;  // empty when the key was left at its default
    const std::string where = pos.file.empty() ? ""
                              : pos.line > 0   ? fmt::format(" ({}:{}:{})", pos.file, pos.line, pos.column)
                                               : fmt::format(" ({})", pos.file);
    return warn(fmt::format("metrics.prometheus = \"{}\"{}: {}; training goes on without the metrics endpoint",
                            key.value, where, endpoint.error().message()));
  }
  endpoint_ = std::move(*endpoint);
  if (options.pipeline_bubble) endpoint_->set_pipeline_bubble_ratio(*options.pipeline_bubble);
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

// Rank 0's optimizer state, and what it would be whole: the saving ZeRO-1 makes is visible.
std::string RunReporter::optimizer_state_line() const {
  const OptimizerStep& optimizer = trainer_.optimizer();
  const double mib = 1 << 20;
  const double whole = double(trainer_.params().parameter_count()) * sizeof(float) * optimizer.state_names().size();
  const Layout& layout = trainer_.layout();
  const std::string how = trainer_.zero() != nullptr
                              ? fmt::format("parallel.zero = 1: 1/{} of its stage's {:.2f} MiB", layout.dp, whole / mib)
                              : fmt::format("whole (parallel.zero = {})", layout.zero);
  std::string line = fmt::format("optimizer state per rank (rank 0): {} bytes ({:.2f} MiB) in {} buffers, {}",
                                 optimizer.state_bytes(), optimizer.state_bytes() / mib,
                                 optimizer.state_names().size(), how);
  const ParamStore& params = trainer_.params();
  if (params.compute_dtype() == LLMRT_DTYPE_F32) return line;  // the master is what the layers read
  const double master_whole = double(params.parameter_count()) * sizeof(float);
  return line + fmt::format("; fp32 master weights per rank (rank 0): {} bytes ({:.2f} MiB), {}", params.master_bytes(),
                            params.master_bytes() / mib,
                            params.master_sharded()
                                ? fmt::format("1/{} of {:.2f} MiB", layout.dp, master_whole / mib)
                                : std::string("whole"));
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
  fmt::print("llmrt: training {} ({:.2f} M parameters{}) on {}: {} steps of {} microbatches × {} × {} tokens per replica, schedule {}, "
             "optimizer {} (lr {:g}), lr schedule {}, {}, precision {}\n",
             spec_.model.name, parameters_ / 1e6, vocab_padding_note(spec_.model), where, spec_.train.steps, layout.microbatches, layout.microbatch_size,
             spec_.model.seq_len.value, layout.schedule, spec_.train.optimizer.component.value,
             trainer_.optimizer().base_lr(), spec_.train.lr_schedule.component.value,
             spec_.data.train.empty() ? std::string("random tokens") : "data " + spec_.data.train,
             describe_precision(spec_.train.precision, trainer_.rank_dtypes(), trainer_.loss_scale()));
  fmt::print("llmrt: {}\n", optimizer_state_line());
  fmt::print("llmrt: optimizer parameters of rank 0's stage: {}\n", trainer_.optimizer().param_table().summary());
  if (!placement.empty()) fmt::print("llmrt: {}\n", placement);
  fmt::print("llmrt: {}\n", mfu_basis_);
  // GPU ranks: which path each group's device buffers take, NCCL or the staging path (and why).
  if (const std::string paths = trainer_.groups().device_paths(); !paths.empty()) {
    fmt::print("llmrt: GPU collectives of rank 0's groups: {}\n", paths);
  }
  if (const std::string p2p = trainer_.groups().pipeline().p2p_path(); !p2p.empty() && layout.pp > 1) {
    fmt::print("llmrt: pipeline p2p: {}\n", p2p);
  }
  std::fflush(stdout);
}

Status RunReporter::step_done(const StepReport& report) {
  if (!speaks_) return Status::success();
  const double tokens_per_s = report.tokens / report.seconds;
  // n/a (NaN here, null in metrics.jsonl, "n/a" on screen) rather than a misleading 0.
  const double mfu = peak_flops_ > 0 ? report.flops / report.seconds / peak_flops_ : std::nan("");
  if (metrics_) {
    nlohmann::json line = {{"step", report.step},       {"loss", report.loss},           {"lr", report.lr},
                           {"grad_norm", report.grad_norm}, {"tokens_per_s", tokens_per_s}, {"mfu", std::isnan(mfu) ? nlohmann::json() : nlohmann::json(mfu)},
                           {"step_time_s", report.seconds}, {"loss_scale", report.loss_scale},
                           {"skipped", report.skipped}};
    LLMRT_RETURN_IF_ERROR(metrics_->append_line(line.dump()));
  }
  if (endpoint_) {
    endpoint_->record_step({report.loss, report.lr, report.grad_norm, report.seconds,
                            static_cast<double>(report.tokens), tokens_per_s, mfu});
  }
  write_tensorboard(report, tokens_per_s, mfu);
  print_step(report, tokens_per_s, mfu);
  return Status::success();
}

void RunReporter::write_tensorboard(const StepReport& report, double tokens_per_s, double mfu) {
  if (!tensorboard_) return;
  if (!session_marked_) {  // a fresh run hides whatever an earlier run left in this directory
    tensorboard_->session_start(report.step);
    session_marked_ = true;
  }
  const std::pair<const char*, double> scalars[] = {
      {"train/loss", report.loss},          {"train/lr", report.lr},
      {"train/grad_norm", report.grad_norm}, {"train/tokens_per_second", tokens_per_s},
      {"train/mfu", mfu},                   {"train/step_seconds", report.seconds}};
  for (const auto& [tag, value] : scalars) {
    if (!std::isnan(value)) tensorboard_->add_scalar(tag, report.step, value);  // MFU n/a: no point
  }
  if (fp16_) tensorboard_->add_scalar("train/loss_scale", report.step, report.loss_scale);
  // A reader sees the run as it goes: whole records every log_every steps and at the end.
  if (report.step % spec_.metrics.log_every == 0 || report.step == spec_.train.steps) flush_tensorboard();
}

void RunReporter::flush_tensorboard() {
  if (!tensorboard_) return;
  if (Status flushed = tensorboard_->flush(); !flushed.ok()) {
    warn(fmt::format("{}; no more TensorBoard events are written", flushed.error().message()));
    tensorboard_.reset();
  }
}

void RunReporter::add_scalar(std::string_view tag, std::int64_t step, double value) {
  if (!speaks_ || !tensorboard_) return;
  tensorboard_->add_scalar(tag, step, value);
  flush_tensorboard();
}

void RunReporter::resumed_at(std::int64_t step) {
  if (!speaks_ || !tensorboard_) return;
  tensorboard_->session_start(step + 1);
  session_marked_ = true;
  flush_tensorboard();
}

void RunReporter::print_step(const StepReport& report, double tokens_per_s, double mfu) {
  const bool last = report.step == spec_.train.steps;
  const int width = static_cast<int>(std::to_string(spec_.train.steps).size());
  if (report.skipped) {  // always said: a skipped update is news
    print_line(fmt::format("step {:>{}}/{} | loss {:.4f} | skipped: fp16 gradients overflowed at loss scale {:g}, "
                           "now {:g}",
                           report.step, width, spec_.train.steps, report.loss, report.loss_scale,
                           trainer_.loss_scale()));
    return;
  }
  if (progress_) {
    progress_->step_done({report.step, spec_.train.steps, report.loss, report.lr, tokens_per_s, mfu, report.seconds, 0},
                         report.step == 1 || last);
    return;
  }
  if (report.step != 1 && !last && report.step % spec_.metrics.log_every != 0) return;
  fmt::print("step {:>{}}/{} | loss {:.4f} | lr {:.3e} | grad norm {:.3f} | {:.0f} tok/s | MFU {} | "
             "{:.0f} ms | ETA {}\n",
             report.step, width, spec_.train.steps, report.loss, report.lr, report.grad_norm, tokens_per_s,
             std::isnan(mfu) ? std::string("n/a") : fmt::format("{:.1f}%", 100 * mfu),
             report.seconds * 1e3, format_duration(report.seconds * static_cast<double>(spec_.train.steps - report.step)));
  std::fflush(stdout);
}

Status RunReporter::validation_done(std::int64_t step, double loss) {
  if (!speaks_) return Status::success();
  if (metrics_) LLMRT_RETURN_IF_ERROR(metrics_->append_line(nlohmann::json{{"step", step}, {"val_loss", loss}}.dump()));
  add_scalar("val/loss", step, loss);
  print_line(fmt::format("step {} val loss {:.4f}", step, loss));
  return Status::success();
}

void RunReporter::print_line(std::string_view line) {
  if (!speaks_) return;
  if (progress_) progress_->end_line();
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

void RunReporter::stop() {
  if (progress_) progress_->end_line();
  flush_tensorboard();
  endpoint_.reset();
}

void RunReporter::warn(std::string_view message) {
  if (progress_) progress_->end_line();
  std::fflush(stdout);
  fmt::print(stderr, "llmrt: warning: {}\n", message);
  std::fflush(stderr);
}

}  // namespace llmrt

namespace llmrt {

Status RunReporter::finish() {
  const double peak_mib = static_cast<double>(peak_resident_bytes()) / (1024.0 * 1024.0);
  const std::vector<double> per_rank = world_.gather(peak_mib);  // collective
  const std::vector<double> saved_per_rank =
      world_.gather(static_cast<double>(trainer_.peak_saved_bytes()) / (1024.0 * 1024.0));  // collective
  if (metrics_) LLMRT_RETURN_IF_ERROR(metrics_->close());
  if (!speaks_) return Status::success();
  flush_tensorboard();
  if (progress_) progress_->end_line();
  std::vector<std::string> shown;
  for (double mib : per_rank) shown.push_back(fmt::format("{:.0f}", mib));
  fmt::print("peak resident memory per rank: [{}] MiB\n", fmt::join(shown, ", "));
  // What activation recompute changes: the layers' saved state, at its peak, on each rank.
  std::vector<std::string> saved;
  for (double mib : saved_per_rank) saved.push_back(fmt::format("{:.3f}", mib));
  fmt::print("peak saved activations per rank: [{}] MiB\n", fmt::join(saved, ", "));
  std::fflush(stdout);
  return Status::success();
}

}  // namespace llmrt
