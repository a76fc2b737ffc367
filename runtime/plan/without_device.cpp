// "The best plan without device X": the room planned again without each of its GPU models, kept
// where leaving that model out is faster or takes less energy (so money) per token.
#include <set>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

// The cluster without GPUs of `model`: the node's other GPUs renumbered, links among those
// remaining (a link left with one member is dropped), nodes left without devices dropped.
ClusterSpec cluster_without(const ClusterSpec& cluster, const std::string& model) {
  ClusterSpec out = cluster;
  out.nodes.clear();
  for (NodeSpec node : cluster.nodes) {
    if (node.is_cpu()) {
      out.nodes.push_back(std::move(node));
      continue;
    }
    std::vector<int> renumbered;  // [old local index] new index, -1 = removed
    std::vector<GpuGroupSpec> kept;
    int next = 0;
    for (const GpuGroupSpec& group : node.gpus) {
      const bool removed = group.model.value == model;
      for (int i = 0; i < group.count; ++i) renumbered.push_back(removed ? -1 : next++);
      if (!removed) kept.push_back(group);
    }
    if (kept.empty()) continue;
    std::vector<LinkSpec> links;
    for (LinkSpec link : node.links) {
      std::vector<int> members;
      for (int gpu : link.gpus.value) {
        if (gpu >= 0 && gpu < static_cast<int>(renumbered.size()) && renumbered[static_cast<std::size_t>(gpu)] >= 0) {
          members.push_back(renumbered[static_cast<std::size_t>(gpu)]);
        }
      }
      if (members.size() < 2) continue;
      link.gpus.value = std::move(members);
      links.push_back(std::move(link));
    }
    node.gpus = std::move(kept);
    node.links = std::move(links);
    out.nodes.push_back(std::move(node));
  }
  return out;
}

double joules_per_token(const PlannedLayout& planned) { return planned.power_w / planned.tokens_per_s; }

}  // namespace

std::vector<DeviceAlternative> plan_without_each_model(const PlanRequest& request, const PlanResult& with_all) {
  std::vector<DeviceAlternative> out;
  if (request.cluster == nullptr || request.topology == nullptr || with_all.ranked.empty()) return out;
  std::set<std::string> models;
  for (const Device& device : request.topology->devices()) {
    if (!device.model->is_cpu) models.insert(device.model->name);
  }
  if (models.size() < 2) return out;  // without its only model the room is empty
  const PlannedLayout& best = with_all.ranked.front();
  auto catalog = DeviceCatalog::build(request.cluster->device_models);
  if (!catalog.ok()) return out;
  for (const std::string& model : models) {
    const ClusterSpec cluster = cluster_without(*request.cluster, model);
    auto topology = build_topology(cluster, *catalog);
    if (!topology.ok()) continue;
    PlanRequest without = request;
    without.cluster = &cluster;
    without.topology = &*topology;
    without.world_size = topology->world_size();
    auto result = plan_layouts(without);  // fixed degrees that no longer fit the room: no alternative
    if (!result.ok() || result->ranked.empty()) continue;
    const PlannedLayout& alternative = result->ranked.front();
    DeviceAlternative entry;
    entry.model = model;
    entry.devices_left = topology->world_size();
    entry.speedup = alternative.tokens_per_s / best.tokens_per_s;
    entry.energy_per_token_ratio = joules_per_token(alternative) / joules_per_token(best);
    if (entry.speedup <= 1 && entry.energy_per_token_ratio >= 1) continue;  // X gives more than it costs
    entry.best = alternative;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace llmrt
