// open: config, topology and plugins, checked against the world that runs them.
#include <fmt/format.h>

#include "config/read_spec.h"
#include "exec/cpu_threads.h"
#include "exec/model_layers.h"
#include "exec/optimizer_step.h"
#include "infer/model_files.h"
#include "job/job.h"
#include "job/job_checks.h"
#include "job/plan_request.h"
#include "plugin/plugin_agreement.h"
#include "plugin/plugin_guard.h"
#include "plugin/plugin_search.h"

namespace llmrt {
namespace {

PluginSearchOptions search_options(const JobRequest& request, const ModelSpec& model) {
  PluginSearchOptions search;
  search.config_paths = model.plugin_paths;
  search.allow_insecure = request.allow_insecure_plugins;
  return search;
}

// Under a launcher MPI's world must be the topology: one rank per device, in device order.
Status check_world_size(const World& world, const Topology& topology, const std::string& config_path) {
  if (!world.launched() || world.size() == topology.world_size()) return Status::success();
  return input_error("{}: {} started {} ranks but the topology has {} devices (one rank per device); "
                     "run `mpirun -np {} llmrt ...`",
                     config_path, world.launcher(), world.size(), topology.world_size(), topology.world_size());
}

// A rehearsal's CPU ranks play GPUs: one kernel thread each under a launcher, so that a node's
// ranks share its cores instead of each taking all of them.
void configure_threads(const ClusterSpec& cluster, bool rehearse, bool launched) {
  if (rehearse && !cluster.nodes.front().is_cpu()) {
    if (launched) configure_cpu_threads(1);
    return;
  }
  configure_cpu_threads_for(cluster, launched);
}

// Everything one rank can find wrong on its own.
Result<std::unique_ptr<OpenJob>> open_locally(const JobRequest& request, const World& world) {
  LLMRT_ASSIGN_OR_RETURN(Spec spec, read_spec(request.config_path, request.overrides));
  // From here a plugin call (loading included) that runs past train.timeout_s stops the job.
  set_plugin_call_rank(world.rank(), "");
  set_plugin_call_bound(spec.train.timeout_s);
  LLMRT_ASSIGN_OR_RETURN(DeviceCatalog catalog, DeviceCatalog::build(spec.cluster.device_models));
  LLMRT_ASSIGN_OR_RETURN(Topology topology, build_topology(spec.cluster, catalog));
  LLMRT_RETURN_IF_ERROR(check_world_size(world, topology, request.config_path));
  LLMRT_RETURN_IF_ERROR_CTX(check_precision_support(topology, spec.train.precision), "{}", request.config_path);
  LLMRT_RETURN_IF_ERROR(check_loss_scale_keys(topology, spec.train));
  // OpenBLAS and OpenMP read their thread settings when they load, with the first plugin.
  if (request.trains) configure_threads(spec.cluster, request.rehearse, world.launched());
  LLMRT_ASSIGN_OR_RETURN(Registry registry, load_plugins(search_options(request, spec.model)));
  LLMRT_RETURN_IF_ERROR(check_model_components(spec.model, registry, spec.parallel.microbatch_size));
  LLMRT_RETURN_IF_ERROR(check_init_from(spec.model, registry));
  LLMRT_RETURN_IF_ERROR(check_optimizer_config(spec.train, registry));
  LLMRT_RETURN_IF_ERROR(check_param_groups(spec, registry));
  // The schedule [parallel] names must exist even when the planner may choose another.
  LLMRT_ASSIGN_OR_RETURN(const Component* schedule,
                         registry.lookup(spec.parallel.schedule, LLMRT_KIND_PIPELINE_SCHEDULE, "[parallel].schedule"));
  (void)schedule;
  std::vector<std::string> warnings = train_warnings(spec.train, registry);
  auto job = std::make_unique<OpenJob>(OpenJob{std::move(spec), std::move(catalog), std::move(topology),
                                               std::move(registry), std::move(warnings), request.rehearse});
  job->share_gpus = request.share_gpus;
  if (world.launched() && world.size() == job->topology.world_size()) {
    job->own_node = job->topology.device(world.rank()).node;
  }
  return job;
}

}  // namespace

PlanRequest OpenJob::plan_request(int world_size) const {
  return plan_request_for(spec, topology, registry, world_size);
}

Result<std::unique_ptr<OpenJob>> open_job(const JobRequest& request, const World& world) {
  auto job = open_locally(request, world);
  LLMRT_RETURN_IF_ERROR(world.agree(job));
  // Every rank got here with its plugins loaded: now they can compare them.
  if (world.launched()) LLMRT_RETURN_IF_ERROR(check_plugins_agree((*job)->registry, world.comm()));
  return job;
}

}  // namespace llmrt
