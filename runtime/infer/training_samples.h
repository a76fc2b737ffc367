// metrics.sample_every: every N steps rank 0 prints a short generation from the weights as they
// are ("step 500 sample: ..."), so a user sees the model learn. The weights are gathered from
// every rank of replica 0 (infer/gather_model.h) and run on rank 0's CPU.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>

#include "infer/inference_model.h"

#include "config/spec.h"
#include "exec/trainer.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

class TrainingSamples {
 public:
  // `spec` and `registry` must outlive it.
  TrainingSamples(const Spec& spec, const Registry& registry) : spec_(&spec), registry_(&registry) {}
  bool enabled() const { return spec_->metrics.sample_every > 0; }

  // Collective: after step `step`, every rank calls it; on a sampling step rank 0 prints one
  // line to `out`. Returns the seconds it took (0 when it did not sample).
  Result<double> after_step(std::int64_t step, Trainer& trainer, std::ostream& out);

 private:
  const Spec* spec_;
  const Registry* registry_;
  std::unique_ptr<InferenceModel> model_;  // rank 0, made at the first sample, loaded at each
};

// Text for one line of output: printable ASCII as it is, \n, \t, \\ and other bytes as \xNN.
std::string escaped_line(const std::string& text);

}  // namespace llmrt
