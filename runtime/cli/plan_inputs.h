// What `llmrt plan` and `llmrt sweep` hand the planner: the config, the topology, the plugins,
// and the plugins' answers (layer costs, schedule action lists) wrapped as PlanRequest's
// functions, so that the planner itself stays pure.
#pragma once

#include <memory>

#include "cli/cli_options.h"
#include "config/spec.h"
#include "plan/planner.h"
#include "plugin/registry.h"
#include "topology/device_catalog.h"
#include "topology/topology.h"
#include "util/status.h"

namespace llmrt {

// Owns everything the request points to; lives behind a unique_ptr so those pointers hold.
struct PlanInputs {
  Spec spec;
  DeviceCatalog catalog;
  Topology topology;
  Registry registry;
  PlanRequest request;  // topology and cluster point into this object

  PlanInputs(Spec spec_in, DeviceCatalog catalog_in, Topology topology_in, Registry registry_in)
      : spec(std::move(spec_in)), catalog(std::move(catalog_in)), topology(std::move(topology_in)),
        registry(std::move(registry_in)) {}
  PlanInputs(const PlanInputs&) = delete;
  PlanInputs& operator=(const PlanInputs&) = delete;
};

// Reads the config (with --set overrides), builds the topology, loads the plugins and fills
// the request from [parallel], [train] and [plan].
Result<std::unique_ptr<PlanInputs>> load_plan_inputs(const CliOptions& options);

// The layers' costs at (tp, microbatch size), from the layer plugins' cost hints; cached per
// (tp, microbatch size), since the planner asks for the same pair once per candidate layout.
LayerCostFn make_layer_cost_fn(const ModelSpec& model, const Registry& registry, Precision precision);

// The pipeline schedules the planner may choose among: the built-in four that the registry
// holds, plus [parallel].schedule when it names another (a plugin's) schedule.
std::vector<std::string> candidate_schedules(const Registry& registry, const ParallelSpec& parallel);

// Bytes of one element at the training precision: of the activations sent between stages and
// of the parameter slices the planner's memory model counts.
int element_bytes_of(Precision precision);

}  // namespace llmrt
