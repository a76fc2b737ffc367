// How long plan_layouts takes on a large cluster: 2,048 nodes × 8 H100 (one NVLink island
// each) on InfiniBand, a 96-block GPT-3-175B-like model, every schedule and microbatch size.
// Usage: bench_planner [nodes] [blocks]. Prints wall time, candidates, the best layouts and
// the peak resident memory.
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "generators/schedule_generators.h"
#include "plan/planner.h"

namespace {

using namespace llmrt;

ClusterSpec h100_cluster(int nodes) {
  ClusterSpec cluster;
  cluster.name = "bench";
  for (int n = 0; n < nodes; ++n) {
    NodeSpec node;
    node.name = fmt::format("gpu{:04}", n);
    node.gpus.push_back({{"H100-SXM", {}}, 8});
    LinkSpec nvlink;
    nvlink.kind = LinkKind::kNvlink;
    nvlink.gpus.value = {0, 1, 2, 3, 4, 5, 6, 7};
    node.links.push_back(nvlink);
    cluster.nodes.push_back(std::move(node));
  }
  cluster.network = {NetworkKind::kInfiniband, 400, 2.0};
  return cluster;
}

// GPT blocks of d_model 12288 and 96 heads, embedding and head; per tp rank, bf16.
LayerCostFn gpt_costs(int blocks, double seq_len) {
  return [=](int tp, int mbs) -> Result<std::vector<LayerCost>> {
    const double d = 12288, vocab = 50304, heads = 96, tokens = seq_len * mbs, hidden = tokens * d * 2;
    if (96 % tp != 0) return input_error("tp = {} does not divide heads = 96", tp);
    const double block = (24 * d * d * tokens + 4 * seq_len * tokens * d) / tp;
    std::vector<LayerCost> costs{{2 * tokens * d, 0, 2 * tokens * d, hidden, vocab * d * 2 / tp, hidden}};
    costs.insert(costs.end(), static_cast<std::size_t>(blocks),
                 {block, block, block, (18 * hidden + 2 * heads * seq_len * tokens * 2) / tp, 12 * d * d * 2 / tp,
                  hidden});
    const double head = 2 * tokens * d * vocab / tp;
    costs.push_back({head, head, head, tokens * vocab * 4 / tp, vocab * d * 2 / tp, 0});
    return costs;
  };
}

// The built-in generators as a verified-schedule source (the planner caches it per shape).
Result<std::shared_ptr<const VerifiedSchedule>> builtin_schedule(const std::string& name, const ScheduleShape& shape) {
  std::vector<llmrt_action> (*actions)(const ScheduleShape&, int) = nullptr;
  if (name == "gpipe") actions = gpipe_actions;
  if (name == "1f1b") actions = one_f_one_b_actions;
  if (name == "zb-h1") actions = zb_h1_actions;
  if (name == "interleaved-1f1b") {
    if (const char* why = check_interleaved_1f1b_shape(shape)) return input_error("{}", why);
    actions = interleaved_1f1b_actions;
  }
  if (actions == nullptr) return input_error("no schedule named {}", name);
  LLMRT_ASSIGN_OR_RETURN(VerifiedSchedule verified,
                         verify_action_lists(name, "", shape, [&](int rank) -> Result<std::vector<llmrt_action>> {
                           return actions(shape, rank);
                         }));
  return std::make_shared<const VerifiedSchedule>(std::move(verified));
}

}  // namespace

int main(int argc, char** argv) {
  const int nodes = argc > 1 ? std::atoi(argv[1]) : 2048;
  const int blocks = argc > 2 ? std::atoi(argv[2]) : 94;  // + embedding + head = 96 layers
  const ClusterSpec cluster = h100_cluster(nodes);
  auto catalog = DeviceCatalog::build({});
  auto topology = build_topology(cluster, *catalog);
  if (!topology.ok()) return fmt::print(stderr, "{}\n", topology.error().message()), 1;
  PlanRequest request;
  request.topology = &*topology;
  request.cluster = &cluster;
  request.world_size = topology->world_size();
  request.seq_len = 2048;
  request.train.global_batch.value = 8192;
  request.train.precision = Precision::kBf16;
  request.train.optimizer.component.value = "adamw";
  request.layer_costs = gpt_costs(blocks, 2048);
  request.schedule_source = builtin_schedule;
  const auto start = std::chrono::steady_clock::now();
  auto result = plan_layouts(request);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result.ok()) return fmt::print(stderr, "{}\n", result.error().message()), 1;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  fmt::print("{} devices, {} layers: planned in {:.2f} s ({} feasible, {} infeasible), peak RSS {:.0f} MiB\n",
             request.world_size, blocks + 2, seconds, result->ranked.size(), result->infeasible.size(),
             usage.ru_maxrss / 1024.0);
  for (std::size_t i = 0; i < std::min<std::size_t>(5, result->ranked.size()); ++i) {
    const PlannedLayout& p = result->ranked[i];
    fmt::print("  pp {} tp {} dp {} {} v{} mbs {} m {}: {:.3f} s/step, {:.0f} tok/s, MFU {:.1f}%, bubble {:.1f}%\n",
               p.layout.pp, p.layout.tp, p.layout.dp, p.layout.schedule, p.layout.virtual_stages,
               p.layout.microbatch_size, p.layout.microbatches, p.step_time_s, p.tokens_per_s, 100 * p.mfu,
               100 * p.bubble_fraction);
  }
  return 0;
}
