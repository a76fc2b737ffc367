#include "job/job_checks.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "data/token_shards.h"
#include "device/host_devices.h"
#include "exec/model_layers.h"
#include "exec/validation.h"

namespace llmrt {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string layout_words(const OpenJob& job, const ResolvedJob& resolved) {
  const Layout& layout = resolved.layout;
  const char* source = resolved.planned ? "the planner's layout" : "the layout of [parallel]";
  if (resolved.world_size == 1 && job.topology.world_size() > 1) source = "one rank holding the whole model";
  return fmt::format("{} (pp {} · tp {} · dp {}, microbatch_size {}, {} microbatches)", source, layout.pp, layout.tp,
                     layout.dp, layout.microbatch_size, layout.microbatches);
}

std::string remedy(const OpenJob& job) {
  return fmt::format("`llmrt plan {}` lists layouts that fit; a smaller microbatch_size, model.seq_len or model "
                     "needs less",
                     job.spec.config_path);
}

// The topology device rank `rank` runs on: its own, or device 0 for a world of one.
const Device& device_of(const OpenJob& job, const ResolvedJob& resolved, int rank) {
  return job.topology.device(resolved.world_size == job.topology.world_size() ? rank : 0);
}

// The CPU ranks this process can judge against its own host's RAM, by the bucket they share:
// every rank of a rehearsal (all played on this host), this rank's own node under a launcher,
// otherwise (check without a launcher) the nodes that are this host: "localhost", its name, or
// the topology's only node. Other hosts' RAM is theirs to check when they run.
std::map<std::string, std::vector<int>> ranks_on_this_host(const OpenJob& job, const ResolvedJob& resolved) {
  std::map<std::string, std::vector<int>> buckets;
  const auto& nodes = job.topology.nodes();
  const std::string host = this_host_name();
  for (int rank = 0; rank < resolved.world_size; ++rank) {
    const Device& device = device_of(job, resolved, rank);
    const std::string& node_name = nodes[static_cast<std::size_t>(device.node)].name;
    if (job.rehearsal) {
      buckets["this host (every rank of a --rehearse)"].push_back(rank);
    } else if (!device.model->is_cpu) {
      continue;
    } else if (job.own_node >= 0 ? device.node == job.own_node
                                 : nodes.size() == 1 || node_name == "localhost" || node_name == host) {
      buckets["node " + node_name].push_back(rank);
    }
  }
  return buckets;
}

}  // namespace

Status check_cuda_graph(const OpenJob& job, const ResolvedJob& resolved) {
  const Located<bool>& key = job.spec.train.cuda_graph;
  if (!key.value) return Status::success();
  const std::string where = key.pos.key_path.empty() ? std::string("train.cuda_graph") : key.pos.describe();
  const Layout& layout = resolved.layout;
  std::string reason;
  if (layout.pp > 1 || layout.virtual_stages > 1) {
    reason = fmt::format("the layout has {} pipeline stages × {} virtual stages; a graph covers one stage (pp = 1, "
                         "virtual_stages = 1), whose step sends no messages",
                         layout.pp, layout.virtual_stages);
  } else if (layout.tp > 1 || layout.dp > 1) {
    reason = fmt::format("the layout has tp {} · dp {}; a graph needs tp = dp = 1 (the tensor-parallel all-reduce, "
                         "the data-parallel buckets and ZeRO act between the step's actions)",
                         layout.tp, layout.dp);
  } else if (job.spec.train.detect_anomaly || job.spec.train.guard_params) {
    reason = fmt::format("train.{} checks every layer call on the host, which a graph replay skips: turn it off, "
                         "or set train.cuda_graph = false",
                         job.spec.train.guard_params ? "guard_params" : "detect_anomaly");
  }
  if (!reason.empty()) return input_error("{}: CUDA graphs cannot apply: {}", where, reason);
  for (std::size_t i = 0; i < job.spec.model.layers.size(); ++i) {
    const LayerSpec& layer = job.spec.model.layers[i];
    LLMRT_ASSIGN_OR_RETURN(
        const Component* component,
        job.registry.lookup(layer.component.value, LLMRT_KIND_LAYER, layer.component.pos.describe()));
    if ((component->layer().flags & LLMRT_LAYER_GRAPH_SAFE) != 0) continue;
    return input_error("{}: CUDA graphs cannot apply: model.layer[{}] component '{}' (plugin {}) does not declare "
                       "LLMRT_LAYER_GRAPH_SAFE (its passes may allocate, synchronise or draw random numbers); set "
                       "train.cuda_graph = false",
                       where, i, component->name,
                       component->plugin != nullptr ? component->plugin->path : std::string("built in"));
  }
  for (int rank = 0; rank < resolved.world_size && !job.rehearsal; ++rank) {
    if (device_of(job, resolved, rank).model->is_cpu) {
      return input_error("{}: CUDA graphs need a GPU rank; rank {} runs on the CPU (set train.cuda_graph = false, or "
                         "rehearse a GPU job with --rehearse, which audits the capture on the CPU)",
                         where, rank);
    }
  }
  return Status::success();
}

std::string cuda_graph_line(bool rehearsal) {
  if (rehearsal) return "CUDA graph: rehearsed on the CPU (capture audited, no graph)";
  return "CUDA graph: the step's forward and backward captured on the second step this process runs and "
         "replayed after it (one stage, tp = dp = 1)";
}

Status check_memory_fit(const OpenJob& job, const ResolvedJob& resolved, std::int64_t host_ram_bytes) {
  const PlanRequest request = job.plan_request(resolved.world_size);
  LLMRT_ASSIGN_OR_RETURN(const std::vector<double> gib, predict_rank_memory_gib(request, resolved.layout));
  const int per_stage = resolved.layout.tp * resolved.layout.dp;
  for (int rank = 0; rank < resolved.world_size; ++rank) {
    const Device& device = device_of(job, resolved, rank);
    const double need = gib[static_cast<std::size_t>(rank)];
    if (!device.model->is_cpu && !job.rehearsal && need > device.memory_gib()) {
      return input_error("{}: {}: stage {} needs {:.1f} GiB per rank (the planner's memory model: parameters, "
                         "gradients, optimizer state, activations, workspace); rank {} runs on {} ({:g} GiB): {:.1f} "
                         "GiB short. {}",
                         job.spec.config_path, layout_words(job, resolved), rank / per_stage, need, rank,
                         device.model->name, device.memory_gib(), need - device.memory_gib(), remedy(job));
    }
  }
  if (host_ram_bytes <= 0) return Status::success();
  const double ram_gib = static_cast<double>(host_ram_bytes) / kGiB;
  // A refusal must be sure: a CPU rank is held to its model state and activations, without
  // plan.workspace_gib (a GPU figure: kernel scratch, CUDA context) that it may not use.
  const double workspace = request.plan.workspace_gib;
  for (const auto& [where, ranks] : ranks_on_this_host(job, resolved)) {
    double need = 0;
    for (int rank : ranks) need += std::max(0.0, gib[static_cast<std::size_t>(rank)] - workspace);
    if (need <= ram_gib) continue;
    const int worst = *std::max_element(ranks.begin(), ranks.end(), [&](int a, int b) {
      return gib[static_cast<std::size_t>(a)] < gib[static_cast<std::size_t>(b)];
    });
    return input_error("{}: {}: {} runs {} CPU rank{} needing {:.1f} GiB in all (stage {}: {:.1f} GiB per rank, "
                       "the planner's memory model without plan.workspace_gib), more than this host's RAM, {:.1f} "
                       "GiB (MemTotal in /proc/meminfo). {}",
                       job.spec.config_path, layout_words(job, resolved), where, ranks.size(),
                       ranks.size() == 1 ? "" : "s", need, worst / per_stage,
                       std::max(0.0, gib[static_cast<std::size_t>(worst)] - workspace), ram_gib, remedy(job));
  }
  return Status::success();
}

Result<std::string> check_training_data(const Spec& spec) {
  if (spec.data.train.empty()) return std::string("data: random tokens (data.train = \"\")\n");
  const std::int64_t vocab = spec.model.vocab_size.value, seq = spec.model.seq_len.value;
  const auto describe = [&](std::string_view key, const ShardSummary& shards) {
    return fmt::format("{} {} shard{}, {} tokens, {} windows", key, shards.files, shards.files == 1 ? "" : "s",
                       shards.tokens, shards.windows);
  };
  LLMRT_ASSIGN_OR_RETURN(const ShardSummary train, check_token_shards(spec.data.train, "data.train", vocab, seq));
  std::string line = "data: " + describe("train", train);
  if (!spec.data.val.value.empty()) {
    LLMRT_ASSIGN_OR_RETURN(const ShardSummary val, check_token_shards(spec.data.val.value, "data.val", vocab, seq));
    LLMRT_RETURN_IF_ERROR(check_val_windows(spec, val.windows, spec.train.global_batch.value));
    line += ", " + describe("val", val);
  }
  return line + fmt::format("; every token id below vocab_size {}\n", vocab);
}

std::vector<std::string> train_warnings(const TrainSpec& train, const Registry& registry) {
  std::vector<std::string> warnings;
  const Component* schedule = registry.find(train.lr_schedule.component.value);
  const bool has_warmup = schedule && std::any_of(schedule->keys.begin(), schedule->keys.end(),
                                                  [](const ConfigKeyDecl& key) { return key.name == "warmup_steps"; });
  if (!has_warmup) return warnings;
  auto warmup = component_number(*schedule, train.lr_schedule, "warmup_steps");
  if (!warmup.ok() || *warmup <= static_cast<double>(train.steps)) return warnings;
  const auto written = train.lr_schedule.params.find("warmup_steps");
  const SourcePos& pos = written != train.lr_schedule.params.end() ? written->second.pos : train.lr_schedule.pos;
  warnings.push_back(fmt::format("{}: warmup_steps = {:g} is longer than train.steps = {}: the learning rate ends at "
                                 "{:.0f}% of its peak and never decays (as meant for a shortened smoke run; otherwise "
                                 "lower warmup_steps)",
                                 pos.describe(), *warmup, train.steps,
                                 100.0 * static_cast<double>(train.steps) / *warmup));
  return warnings;
}

}  // namespace llmrt
