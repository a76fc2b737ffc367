// What a training run prints on rank 0: the plan in one paragraph, then a log line every
// [metrics].log_every steps (and the first and last): step, loss, lr, grad norm, tokens/s,
// MFU, step time, ETA.
#pragma once

#include <string>

#include "config/spec.h"
#include "exec/trainer.h"
#include "topology/topology.h"

namespace llmrt {

class RunReporter {
 public:
  RunReporter(const Spec& spec, const Topology& topology, Trainer& trainer, bool launched);
  void print_plan() const;
  void step_done(const StepReport& report) const;

 private:
  const Spec& spec_;
  Trainer& trainer_;
  bool launched_;
  int world_size_;
  double peak_flops_;  // of the devices this run uses, for MFU
};

std::string format_duration(double seconds);  // "42 s", "3 min 5 s", "2 h 10 min"

}  // namespace llmrt
