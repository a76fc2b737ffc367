// `llmrt sweep CONFIG --measure` under mpirun: the top k layouts of the predicted table, each
// trained for [sweep].measure_steps steps in this one job; run_dir gets sweep.csv, sweep.json
// and sweep.svg (predicted beside measured tokens/s, with each prediction's error), and with
// --calibrate a calibration.toml of [plan] constants fitted to the measurements.
#pragma once

#include "cli/cli_options.h"
#include "comm/world.h"
#include "job/job.h"
#include "plan/planner.h"
#include "util/status.h"

namespace llmrt {

struct SweepMeasurement {
  PlannedLayout predicted;
  double measured_tokens_per_s = 0;
  double measured_step_s = 0;
};

Status measure_sweep(const CliOptions& options, const World& world, const OpenJob& job,
                     const PlanResult& predicted);

// The three outputs (and calibration.toml when asked), written by rank 0.
Status write_sweep_outputs(const std::string& run_dir, const std::vector<SweepMeasurement>& rows,
                           const Topology& topology, const PlanSpec& plan, bool calibrate);

}  // namespace llmrt
