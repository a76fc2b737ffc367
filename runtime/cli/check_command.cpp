// `llmrt check CONFIG`: read and validate the config, build the topology, and print what the
// file describes. Under mpirun it also holds MPI's world size against the topology.
#include <iostream>

#include "cli/check_schedule.h"
#include "cli/commands.h"
#include "cli/model_summary.h"
#include "exec/model_layers.h"
#include "config/read_spec.h"
#include "plugin/plugin_agreement.h"
#include "plugin/plugin_search.h"
#include "topology/device_catalog.h"
#include "topology/topology.h"
#include "topology/topology_report.h"

namespace llmrt {
namespace {

// The fixed parallel degrees must fit the topology: one rank per device.
Status check_parallel_degrees(const ParallelSpec& parallel, int device_count) {
  int fixed_product = 1;
  std::vector<std::string> fixed;
  for (const auto* degree : {&parallel.pp, &parallel.tp, &parallel.dp}) {
    if (!degree->value) continue;
    fixed_product *= *degree->value;
    fixed.push_back(fmt::format("{} = {}", degree->pos.key_path, *degree->value));
  }
  const bool all_fixed = fixed.size() == 3;
  if ((all_fixed && fixed_product != device_count) || device_count % fixed_product != 0) {
    return input_error("{}: {} {} the topology's {} devices (one rank per device)", parallel.pp.pos.describe(),
                       fmt::join(fixed, " × "), all_fixed ? "does not equal" : "does not divide", device_count);
  }
  return Status::success();
}

// Under a launcher MPI's world must be the topology: one rank per device, in device order.
Status check_world_size(const MpiSession& mpi, const Topology& topology, const std::string& config_path) {
  if (!mpi.launched() || mpi.world_size() == topology.world_size()) return Status::success();
  return input_error("{}: {} started {} ranks but the topology has {} devices (one rank per device); "
                     "run `mpirun -np {} llmrt ...`",
                     config_path, mpi.launcher(), mpi.world_size(), topology.world_size(), topology.world_size());
}

std::string format_parallel(const ParallelSpec& parallel) {
  auto degree = [](const Located<AutoInt>& value) {
    return value.value ? std::to_string(*value.value) : std::string("auto");
  };
  return fmt::format("parallel: pp {} · tp {} · dp {}, schedule {}, virtual stages {}, microbatch size {}\n",
                     degree(parallel.pp), degree(parallel.tp), degree(parallel.dp), parallel.schedule,
                     parallel.virtual_stages, parallel.microbatch_size);
}

}  // namespace

Status check_command(const CliOptions& options, const MpiSession& mpi) {
  auto spec = read_spec(options.config_path, options.overrides);
  if (!spec) return spec.error();
  auto catalog = DeviceCatalog::build(spec->cluster.device_models);
  if (!catalog) return catalog.error();
  auto topology = build_topology(spec->cluster, *catalog);
  if (!topology) return topology.error();
  LLMRT_RETURN_IF_ERROR(check_parallel_degrees(spec->parallel, topology->world_size()));
  LLMRT_RETURN_IF_ERROR(check_world_size(mpi, *topology, options.config_path));
  auto registry = load_plugins(plugin_search_options(options, spec->model));
  if (!registry) return registry.error();
  if (mpi.launched()) LLMRT_RETURN_IF_ERROR(check_plugins_agree(*registry, MPI_COMM_WORLD));
  auto model = summarize_model(spec->model, *registry);
  if (!model) return model.error();
  LLMRT_RETURN_IF_ERROR(check_layer_support(spec->model, *registry, *topology, spec->train.precision));
  auto schedule = check_pipeline_schedule(*registry, spec->parallel, spec->train, topology->world_size());
  if (!schedule) return schedule.error();

  if (mpi.rank() != 0) return Status::success();
  std::cout << fmt::format("{}: OK\n\n", options.config_path) << format_topology(*topology, spec->cluster) << "\n"
            << format_model_summary(spec->model, *model) << "\n"
            << format_parallel(spec->parallel) << *schedule
            << fmt::format("plugins: {} components from {} files\n", registry->components().size(),
                           registry->plugins().size());
  if (mpi.launched()) {
    std::cout << fmt::format("MPI: {} ranks under {}, matching the topology\n", mpi.world_size(), mpi.launcher());
  }
  return Status::success();
}

}  // namespace llmrt
