// What the planner gets from a job: the config, the topology, and the plugins' answers (layer
// costs, schedule action lists) wrapped as PlanRequest's functions, so that the planner itself
// stays pure. `plan`, `sweep`, `check` and `run` all build their request here.
#pragma once

#include <memory>

#include "config/spec.h"
#include "plan/planner.h"
#include "plugin/registry.h"
#include "topology/topology.h"
#include "util/status.h"

namespace llmrt {

// The layers' costs at (tp, microbatch size), from the layer plugins' cost hints; cached per
// (tp, microbatch size), since the planner asks for the same pair once per candidate layout.
LayerCostFn make_layer_cost_fn(const ModelSpec& model, const Registry& registry, Precision precision);

// The pipeline schedules the planner may choose among: the built-in four that the registry
// holds, plus [parallel].schedule when it names another (a plugin's) schedule.
std::vector<std::string> candidate_schedules(const Registry& registry, const ParallelSpec& parallel);

// The planner's inputs for `world_size` ranks of this config (the topology's device count
// for `plan`; what the launcher started for `run`). The request points into spec, topology
// and registry, which must outlive it.
PlanRequest plan_request_for(const Spec& spec, const Topology& topology, const Registry& registry, int world_size);

// Bytes of one element at the training precision: of the activations sent between stages and
// of the parameter slices the planner's memory model counts.
int element_bytes_of(Precision precision);

}  // namespace llmrt
