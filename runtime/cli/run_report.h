// What a training run reports on rank 0: the plan in one paragraph; then on a terminal a
// progress bar, elsewhere a log line every [metrics].log_every steps (and the first and last):
// step, loss, lr, grad norm, tokens/s, MFU, step time, ETA. Every step also goes to
// run_dir/metrics.jsonl, to TensorBoard events in run_dir/tb/rank0/ and to the Prometheus
// endpoint (docs/watching.md). RunReporter is the one owner that feeds them all.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli/progress_bar.h"
#include "comm/world.h"
#include "config/spec.h"
#include "exec/trainer.h"
#include "obs/prometheus_endpoint.h"
#include "obs/tensorboard_writer.h"
#include "topology/topology.h"
#include "util/file_write.h"

namespace llmrt {

// What the caller knows about rank 0's surroundings.
struct ReportOptions {
  std::optional<int> terminal_columns;    // stdout is a terminal this wide: a progress bar, not log lines
  bool nvidia_gpu = false;                // this rank runs on an NVIDIA GPU: its host's GPUs on the endpoint
  std::optional<double> pipeline_bubble;  // the planner's predicted idle share, when it chose the layout
  bool rehearsal = false;  // CPU ranks play the topology's devices: MFU against their peak is n/a
};

class RunReporter {
 public:
  // Opens metrics.jsonl and the TensorBoard event file (an error names the file) and starts the
  // endpoint; an endpoint that cannot listen is a warning, and the run goes on without it.
  static Result<RunReporter> create(const Spec& spec, const Topology& topology, Trainer& trainer, const World& world,
                                    ReportOptions options = {});
  // `placement`: place_rank's line (a rehearsal, the GPUs), printed after the paragraph when set.
  void print_plan(const std::string& placement) const;
  // A metrics.jsonl line that cannot be written (a full disk) is an error: the run stops.
  Status step_done(const StepReport& report);
  // Any scalar on TensorBoard beside the train/ ones, e.g. ("val/loss", step, loss). Rank 0 only.
  void add_scalar(std::string_view tag, std::int64_t step, double value);
  // A run resumed from the checkpoint of step `step` continues at step + 1: TensorBoard drops the
  // points an earlier session wrote from there on (SessionLog START at step + 1). Call it before
  // the first step. A run that does not call it starts its session at its first step.
  void resumed_at(std::int64_t step);
  // A line of rank 0's own (validation, a checkpoint written): on a line of its own, above the bar.
  void print_line(std::string_view line);
  // "step 500 val loss 1.8123", {"step": 500, "val_loss": 1.8123} in metrics.jsonl, val/loss on TensorBoard.
  Status validation_done(std::int64_t step, double loss);
  // After the last step, collective: every rank's peak resident memory, printed by rank 0.
  Status finish();  // collective; the metrics file closed (its close may report a failed write)
  // A run that failed: the bar's line ended, the events flushed and the endpoint closed now,
  // before the error is printed (the destructor does the same).
  void stop();

 private:
  std::string optimizer_state_line() const;
  RunReporter(const Spec& spec, Trainer& trainer, const World& world)
      : spec_(spec), trainer_(trainer), world_(world) {}
  Status open_outputs();
  void start_endpoint(const ReportOptions& options);
  void write_tensorboard(const StepReport& report, double tokens_per_s, double mfu);
  void flush_tensorboard();
  void print_step(const StepReport& report, double tokens_per_s, double mfu);
  void warn(std::string_view message);

  const Spec& spec_;
  Trainer& trainer_;
  const World& world_;
  bool speaks_ = true;          // rank 0
  int topology_ranks_ = 1;      // the topology's devices (a world of one may stand for several)
  double peak_flops_ = 0;       // of one rank's device(s), for MFU; 0: MFU is n/a
  std::string mfu_basis_;       // what MFU is measured against, or why it is n/a (the header says it)
  double parameters_ = 0;       // the whole model's
  bool fp16_ = false;           // some rank runs fp16: its loss scale is worth a curve
  bool session_marked_ = false; // the TensorBoard session start is written
  std::optional<LineFile> metrics_;                          // run_dir/metrics.jsonl
  std::unique_ptr<obs::TensorBoardWriter> tensorboard_;      // run_dir/tb/rank0/
  std::unique_ptr<obs::PrometheusEndpoint> endpoint_;        // metrics.prometheus
  std::unique_ptr<ProgressBar> progress_;                    // on a terminal
};

std::string format_duration(double seconds);  // "42 s", "3 min 5 s", "2 h 10 min"

}  // namespace llmrt
