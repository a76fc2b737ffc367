// Before the trainer: the model's layers split into the layout's virtual stages
// ([parallel].stage_layers, else the layers' cost hints at equal device speeds; a caller that
// knows the devices fills stage_layers from plan_stage_layers in plan/planner.h first), and
// which pipeline stages hold each tied parameter, so that every rank can create the same
// process groups.
#pragma once

#include <map>
#include <set>
#include <string>

#include "config/spec.h"
#include "plan/layout.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

struct ModelPlan {
  Layout layout;  // with stage_layers filled
  std::map<std::string, std::set<int>> tie_stages;
  std::vector<double> layer_flops;  // per model layer, one microbatch, this tp degree
};

Result<ModelPlan> plan_model(const Spec& spec, const Registry& registry, Layout layout);

}  // namespace llmrt
