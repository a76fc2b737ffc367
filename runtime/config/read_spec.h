// TOML → typed Spec: load the file with its includes, apply overrides, reject unknown keys,
// then read each section into its struct. The one entry point the CLI calls.
#pragma once

#include <string>
#include <vector>

#include "config/config_document.h"
#include "config/spec.h"
#include "config/table_reader.h"
#include "util/status.h"

namespace llmrt {

Result<Spec> read_spec(const std::string& path, const std::vector<std::string>& overrides = {});

// One reader per section; each fills its struct and reports problems to the reader's sink.
ClusterSpec read_cluster(TableReader cluster);
ModelSpec read_model(TableReader model);
ParallelSpec read_parallel(TableReader parallel);
TrainSpec read_train(TableReader train);
DataSpec read_data(TableReader data, std::int64_t global_batch);
CheckpointSpec read_checkpoint(TableReader checkpoint);
MetricsSpec read_metrics(TableReader metrics, const std::string& model_name);
SweepSpec read_sweep(TableReader sweep);
PlanSpec read_plan(TableReader plan);

// A plugin component's own keys (everything but `component` and the listed reserved keys).
ComponentSpec read_component(TableReader table, std::string_view default_component,
                             const std::vector<std::string>& reserved_keys);

// "0-7", "0,2,5", "0-3,6" or [0, 2] → device indices, in order, without repeats.
Result<std::vector<int>> parse_device_list(const toml::node& node, const SourcePos& pos);

}  // namespace llmrt
