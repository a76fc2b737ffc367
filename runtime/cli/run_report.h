// What a training run reports on rank 0: the plan in one paragraph, then a log line every
// [metrics].log_every steps (and the first and last): step, loss, lr, grad norm, tokens/s,
// MFU, step time, ETA; and every step as one JSON line in run_dir/metrics.jsonl.
#pragma once

#include <fstream>
#include <memory>
#include <string>

#include "comm/world.h"
#include "config/spec.h"
#include "exec/trainer.h"
#include "topology/topology.h"

namespace llmrt {

class RunReporter {
 public:
  static Result<RunReporter> create(const Spec& spec, const Topology& topology, Trainer& trainer,
                                    const World& world);
  // `placement`: place_rank's line (a rehearsal, the GPUs), printed after the paragraph when set.
  void print_plan(const std::string& placement) const;
  void step_done(const StepReport& report) const;
  // "step 500 val loss 1.8123", and {"step": 500, "val_loss": 1.8123} in metrics.jsonl.
  void validation_done(std::int64_t step, double loss) const;
  // After the last step, collective: every rank's peak resident memory, printed by rank 0.
  void finish() const;

 private:
  RunReporter(const Spec& spec, Trainer& trainer, const World& world)
      : spec_(spec), trainer_(trainer), world_(world) {}

  const Spec& spec_;
  Trainer& trainer_;
  const World& world_;
  bool speaks_ = true;          // rank 0
  int topology_ranks_ = 1;      // the topology's devices (a world of one may stand for several)
  double peak_flops_ = 0;       // of one rank's device(s), for MFU
  double parameters_ = 0;       // the whole model's
  std::unique_ptr<std::ofstream> metrics_;  // run_dir/metrics.jsonl
};

std::string format_duration(double seconds);  // "42 s", "3 min 5 s", "2 h 10 min"

}  // namespace llmrt
