// The one path every command takes between the command line and the areas of the data flow:
//   open    (config → spec, topology, plugins; CPU kernel threads set before plugins load;
//            the world held against the topology and the ranks' plugin builds agreed),
//   resolve (the layout from [parallel] or the planner, the model split into stages, the
//            planner's prediction),
//   build   (process groups, progress and watchdog, the trainer).
// `plan` stops after open (and asks the planner itself), `check` after resolve, `run` and
// `sweep --measure` build and train; tests and benchmarks take the same steps. One process
// without a launcher is a world of one: the whole model on one rank, same code.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "comm/process_groups.h"
#include "comm/progress.h"
#include "comm/world.h"
#include "config/spec.h"
#include "exec/trainer.h"
#include "job/placement.h"
#include "plan/layout.h"
#include "plan/planner.h"
#include "plugin/registry.h"
#include "topology/device_catalog.h"
#include "topology/topology.h"
#include "util/status.h"

namespace llmrt {

// What a command asks of the job.
struct JobRequest {
  std::string config_path;
  std::vector<std::string> overrides;  // --set key.path=value, in order
  bool allow_insecure_plugins = false;
  bool trains = false;  // run, sweep --measure: kernel threads for training, set before plugins load
  bool rehearse = false;  // --rehearse: every device played by a CPU rank, the host checks skipped
  bool share_gpus = false;  // --share-gpus (testing): ranks beyond a host's GPUs share them round-robin
};

// Open: everything read and loaded, nothing planned. Held behind a unique_ptr: the plan
// requests made from it point into it.
struct OpenJob {
  Spec spec;
  DeviceCatalog catalog;
  Topology topology;
  Registry registry;
  // One per config key that is accepted but not acted on yet ("checkpoint.every = 500: ...").
  std::vector<std::string> warnings;
  // --rehearse: the planner plans for the topology's devices, CPU ranks play them.
  bool rehearsal = false;
  bool share_gpus = false;  // --share-gpus
  // The topology node this process runs on when a launcher started the whole topology's world;
  // -1 otherwise (check without a launcher, a world of one): what the host-RAM check may judge.
  int own_node = -1;

  // The planner's inputs for `world_size` ranks of this job.
  PlanRequest plan_request(int world_size) const;
};

// Reads and checks the config, builds the topology, loads the plugins, checks the model's
// components and the named schedule. Under a launcher: the world size must be the topology's
// device count, and every rank must hold the same plugin builds. Collective: every rank
// returns an error when any rank failed.
Result<std::unique_ptr<OpenJob>> open_job(const JobRequest& request, const World& world);

// Resolve: where every rank sits and which layers it runs.
struct ResolvedJob {
  Layout layout;                                   // degrees, schedule, microbatches, stage_layers
  std::optional<PlannedLayout> planned;            // set when the planner chose the layout
  std::map<std::string, std::set<int>> tie_stages; // tied parameter → pipeline ranks holding a copy
  int world_size = 1;
  // [world rank] the llmrt_dtype it computes in: the training precision, or under "auto" the
  // best its device has (a mixed room runs bf16 on some stages and fp16 on others).
  std::vector<std::int32_t> rank_dtypes;
};

// The layout for `world_size` ranks (in a rehearsal every layer must also run on the CPU at the
// training precision): a world of one holds the whole model (pp = tp = dp = 1,
// [parallel]'s microbatch size and schedule); otherwise [parallel] when it fixes pp, tp and dp,
// the planner's best layout when it leaves any on "auto". May rewrite job.spec.parallel to the
// chosen layout, so that what is written to run_dir is what runs.
Result<ResolvedJob> resolve_job(OpenJob& job, int world_size);
// [parallel] as `layout` fixes it (degrees, schedule, virtual stages, microbatch size, split), so
// that a spec written out or built from describes exactly that layout.
void pin_parallel(ParallelSpec& parallel, const Layout& layout);

// The model split and tied stages of a given layout (sweep --measure trains planned layouts).
Result<ResolvedJob> resolve_layout(const OpenJob& job, const Spec& spec, const Layout& layout);

// Build: the objects that train. Destroyed in reverse order: trainer, progress, groups.
struct BuiltJob {
  std::unique_ptr<ProcessGroups> groups;
  std::unique_ptr<Progress> progress;  // the watchdog under a launcher
  std::unique_ptr<Trainer> trainer;
};

// On the device `placement` bound (place_rank). Collective: every rank returns an error when
// any rank failed.
Result<BuiltJob> build_job(const Spec& spec, const Registry& registry, const ResolvedJob& resolved,
                           const RankPlacement& placement, const World& world);

// Open, resolve for the world's size, place, build: what tests and benchmarks use to train a config.
struct TrainingJob {
  std::unique_ptr<OpenJob> open;
  ResolvedJob resolved;
  RankPlacement placement;
  BuiltJob built;
  Trainer& trainer() { return *built.trainer; }
};
Result<TrainingJob> start_training(const JobRequest& request, const World& world);

}  // namespace llmrt
