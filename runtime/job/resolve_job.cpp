// resolve: the layout every rank runs — a world of one, [parallel]'s fixed degrees, or the
// planner's best — and the model's split into its virtual stages.
#include <fmt/format.h>

#include "exec/model_layers.h"
#include "exec/model_plan.h"
#include "job/job.h"
#include "job/job_checks.h"
#include "util/memory.h"

namespace llmrt {
namespace {

// A world of one holds the whole model, whatever degrees [parallel] asks of a launched run.
Result<Layout> world_of_one_layout(const Spec& spec) {
  ParallelSpec whole = spec.parallel;
  whole.pp.value = 1;
  whole.tp.value = 1;
  whole.dp.value = 1;
  whole.virtual_stages = 1;
  whole.stage_layers.value.reset();
  return fixed_layout(whole, spec.train, 1);
}

Result<PlannedLayout> best_planned_layout(const OpenJob& job, int world_size) {
  LLMRT_ASSIGN_OR_RETURN(PlanResult result, plan_layouts(job.plan_request(world_size)));
  if (result.ranked.empty()) {
    const std::string reason = result.infeasible.empty() ? "no candidate" : result.infeasible.front().reason;
    return input_error("[parallel] leaves the layout to the planner, and no layout fits: {} (`llmrt plan {} "
                       "--explain` lists every reason)",
                       reason, job.spec.config_path);
  }
  return result.ranked.front();
}

// A rehearsal plays every device by a CPU rank: every layer must run on the CPU too.
Status check_rehearsal_layer_support(const OpenJob& job) {
  LLMRT_RETURN_IF_ERROR_CTX(check_layer_support(job.spec.model, job.registry, job.topology, job.spec.train.precision,
                                                /*played_by_cpu=*/true),
                            "--rehearse plays every device by a CPU rank, at train.precision = \"{}\" (`--set "
                            "train.precision=\"fp32\"` rehearses in fp32)",
                            precision_name(job.spec.train.precision));
  return Status::success();
}

}  // namespace

void pin_parallel(ParallelSpec& parallel, const Layout& layout) {
  parallel.pp.value = layout.pp;
  parallel.tp.value = layout.tp;
  parallel.dp.value = layout.dp;
  parallel.schedule = layout.schedule;
  parallel.virtual_stages = layout.virtual_stages;
  parallel.microbatch_size = layout.microbatch_size;
  parallel.stage_layers.value = layout.stage_layers;
}

Result<ResolvedJob> resolve_layout(const OpenJob& job, const Spec& spec, const Layout& layout) {
  LLMRT_ASSIGN_OR_RETURN(ModelPlan model, plan_model(spec, job.registry, layout));
  ResolvedJob resolved;
  resolved.layout = std::move(model.layout);
  resolved.tie_stages = std::move(model.tie_stages);
  resolved.world_size = layout.world_size();
  // Rank r runs on the topology's device r; a world of one runs on device 0 (a rehearsal's
  // CPU ranks compute at the dtype of the device they play).
  for (int rank = 0; rank < resolved.world_size; ++rank) {
    const int device = resolved.world_size == job.topology.world_size() ? rank : 0;
    resolved.rank_dtypes.push_back(rank_compute_dtype(job.topology.device(device), spec.train.precision));
  }
  return resolved;
}

Result<ResolvedJob> resolve_job(OpenJob& job, int world_size) {
  // Every layer must run on the devices the topology names, at the training precision.
  LLMRT_RETURN_IF_ERROR(check_layer_support(job.spec.model, job.registry, job.topology, job.spec.train.precision));
  if (job.rehearsal) LLMRT_RETURN_IF_ERROR(check_rehearsal_layer_support(job));
  ParallelSpec& parallel = job.spec.parallel;
  std::optional<PlannedLayout> planned;
  Layout layout;
  if (world_size == 1 && job.topology.world_size() != 1) {
    LLMRT_ASSIGN_OR_RETURN(layout, world_of_one_layout(job.spec));
    parallel.stage_layers.value.reset();  // a split for pp stages; one rank holds every layer
  } else if (parallel.pp.value && parallel.tp.value && parallel.dp.value) {
    LLMRT_ASSIGN_OR_RETURN(layout, fixed_layout(parallel, job.spec.train, world_size));
    // Pinned degrees without a split: the planner's split by the placed devices' speeds, so
    // that `run` builds what `plan` predicted for the same degrees.
    if (!parallel.stage_layers.value && layout.pp * layout.virtual_stages > 1) {
      LLMRT_ASSIGN_OR_RETURN(parallel.stage_layers.value, plan_stage_layers(job.plan_request(world_size), layout));
    }
    // "auto" recompute / zero: the cheapest with which these degrees fit (none/0 when they fit as is).
    LLMRT_ASSIGN_OR_RETURN(layout, choose_memory_savers(job.plan_request(world_size), std::move(layout)));
  } else {
    LLMRT_ASSIGN_OR_RETURN(planned, best_planned_layout(job, world_size));
    pin_parallel(parallel, planned->layout);
    LLMRT_ASSIGN_OR_RETURN(layout, fixed_layout(parallel, job.spec.train, world_size));
    layout.recompute = planned->layout.recompute;  // the planner's choice where they were "auto"
    layout.zero = planned->layout.zero;
  }
  // A layer may run a device in one recompute mode and not another (gpt.block's selective is
  // CPU-only): asked again in the mode chosen, before anything is allocated.
  if (layout.recompute != Recompute::kNone) {
    LLMRT_RETURN_IF_ERROR_CTX(check_layer_support(job.spec.model, job.registry, job.topology,
                                                  job.spec.train.precision, false, layout.recompute),
                              "train.recompute = \"{}\"", recompute_name(layout.recompute));
  }
  LLMRT_ASSIGN_OR_RETURN(ResolvedJob resolved, resolve_layout(job, job.spec, layout));
  resolved.planned = std::move(planned);
  // Before anything is allocated: the layout fits the memory it will run in.
  LLMRT_RETURN_IF_ERROR(check_memory_fit(job, resolved, host_memory_bytes()));
  LLMRT_RETURN_IF_ERROR(check_cuda_graph(job, resolved));
  return resolved;
}

}  // namespace llmrt
