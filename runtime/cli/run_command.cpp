// `llmrt [run] CONFIG`: train. One rank without a launcher runs the whole model; under
// mpirun the distributed executor takes over (distributed-execution issue).
#include <iostream>

#include "cli/commands.h"
#include "cli/run_report.h"
#include "config/read_spec.h"
#include "exec/cpu_threads.h"
#include "exec/model_layers.h"
#include "exec/trainer.h"
#include "topology/device_catalog.h"
#include "topology/topology.h"

namespace llmrt {
namespace {

// Kernel threads for this rank, set before any plugin (and so OpenBLAS and OpenMP) loads. One
// rank without a launcher does the work of every CPU rank of its node, so it takes all their threads.
void set_compute_threads(const ClusterSpec& cluster, const MpiSession& mpi) {
  const NodeSpec& node = cluster.nodes.front();
  if (!node.is_cpu()) return;
  configure_cpu_threads(node.cpu_threads_per_rank * (mpi.launched() ? 1 : node.cpu_ranks));
}

Status train_loop(Trainer& trainer, const Spec& spec, const RunReporter& reporter) {
  for (std::int64_t step = 1; step <= spec.train.steps; ++step) {
    auto report = trainer.train_step();
    if (!report) return report.error();
    reporter.step_done(*report);
  }
  return Status::success();
}

}  // namespace

Status train_command(const CliOptions& options, const MpiSession& mpi) {
  auto spec = read_spec(options.config_path, options.overrides);
  if (!spec) return spec.error();
  auto catalog = DeviceCatalog::build(spec->cluster.device_models);
  if (!catalog) return catalog.error();
  auto topology = build_topology(spec->cluster, *catalog);
  if (!topology) return topology.error();
  if (mpi.launched() && mpi.world_size() > 1) {
    return input_error("{}: training on {} ranks needs the distributed executor, which is not built yet; "
                       "run without mpirun to train on one rank",
                       options.config_path, mpi.world_size());
  }
  set_compute_threads(spec->cluster, mpi);
  auto registry = load_plugins(plugin_search_options(options, spec->model));
  if (!registry) return registry.error();
  LLMRT_RETURN_IF_ERROR(check_model_components(spec->model, *registry));
  auto trainer = Trainer::create(*spec, *registry);
  if (!trainer) return trainer.error();
  const RunReporter reporter(*spec, *topology, *trainer, mpi.launched());
  reporter.print_plan();
  return train_loop(*trainer, *spec, reporter);
}

}  // namespace llmrt
