// `llmrt plan` output as data: plan.json, the CSV and the hostfile (plan_report.h).
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "cli/plan_report.h"
#include "util/strings.h"

namespace llmrt {
namespace {

nlohmann::json layout_json(const Layout& layout) {
  return {{"pp", layout.pp},
          {"tp", layout.tp},
          {"dp", layout.dp},
          {"virtual_stages", layout.virtual_stages},
          {"schedule", layout.schedule},
          {"microbatch_size", layout.microbatch_size},
          {"microbatches", layout.microbatches},
          {"stage_layers", layout.stage_layers},
          {"recompute", recompute_name(layout.recompute)},
          {"zero", layout.zero},
          {"label", layout_label(layout)}};
}


// [{"link_class": "network", "seconds_per_step": 1.3, "share": 0.4}, ...]
nlohmann::json link_busy_json(const PlannedLayout& planned) {
  nlohmann::json out = nlohmann::json::array();
  for (const LinkBusy& busy : planned.link_busy) {
    out.push_back({{"link_class", busy.link_class}, {"seconds_per_step", busy.seconds_per_step}, {"share", busy.share}});
  }
  return out;
}

}  // namespace

nlohmann::json plan_result_json(const PlanResult& result, const Topology& topology) {
  nlohmann::json ranked = nlohmann::json::array();
  for (std::size_t i = 0; i < result.ranked.size(); ++i) {
    const PlannedLayout& p = result.ranked[i];
    nlohmann::json by_model = nlohmann::json::object();
    for (const auto& [model, gib] : peak_memory_by_model(p, topology)) by_model[model] = gib;
    ranked.push_back({{"rank", i + 1},
                      {"layout", layout_json(p.layout)},
                      {"rank_to_device", p.rank_to_device},
                      {"step_time_s", p.step_time_s},
                      {"tokens_per_s", p.tokens_per_s},
                      {"mfu", p.mfu},
                      {"hfu", p.hfu},
                      {"hardware_flops_per_step", p.hardware_flops_per_step},
                      {"saver_reason", p.saver_reason},
                      {"link_busy", link_busy_json(p)},
                      {"bubble_fraction", p.bubble_fraction},
                      {"peak_memory_gib", p.peak_memory_gib},
                      {"scratch_bytes", p.scratch_bytes},
                      {"peak_memory_gib_by_device_model", by_model},
                      {"power_w", p.power_w},
                      {"run_time_s", p.run_time_s},
                      {"run_energy_kwh", p.run_energy_kwh},
                      {"run_cost", p.run_cost},
                      {"notes", p.notes}});
  }
  nlohmann::json infeasible = nlohmann::json::array();
  for (const InfeasibleLayout& entry : result.infeasible) {
    infeasible.push_back({{"layout", layout_json(entry.layout)}, {"reason", entry.reason}});
  }
  nlohmann::json without = nlohmann::json::array();
  for (const DeviceAlternative& alt : result.without_device) {
    without.push_back({{"model", alt.model},
                       {"devices_left", alt.devices_left},
                       {"layout", layout_json(alt.best.layout)},
                       {"step_time_s", alt.best.step_time_s},
                       {"tokens_per_s", alt.best.tokens_per_s},
                       {"power_w", alt.best.power_w},
                       {"speedup", alt.speedup},
                       {"energy_per_token_ratio", alt.energy_per_token_ratio}});
  }
  return {{"world_size", topology.world_size()}, {"currency", result.currency}, {"ranked", ranked},
          {"infeasible", infeasible}, {"without_device", without}};
}

std::string format_plan_csv(const PlanResult& result, const Topology& topology) {
  // A cell with a comma, quote or newline is quoted, quotes doubled (RFC 4180).
  auto cell = [](const std::string& text) {
    if (text.find_first_of(",\"\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };
  std::string text = "rank,pp,tp,dp,virtual_stages,schedule,microbatch_size,microbatches,stage_layers,recompute,zero,step_time_s,"
                     "tokens_per_s,mfu,bubble_fraction,peak_memory_gib_max,peak_memory,power_w,run_energy_kwh,"
                     "run_cost,notes\n";
  for (std::size_t i = 0; i < result.ranked.size(); ++i) {
    const PlannedLayout& p = result.ranked[i];
    const Layout& l = p.layout;
    const double peak = p.peak_memory_gib.empty() ? 0 : *std::max_element(p.peak_memory_gib.begin(), p.peak_memory_gib.end());
    text += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{:.6g},{:.6g},{:.4f},{:.4f},{:.3f},{},{:.1f},{:.4g},{:.4g},{}\n", i + 1,
                        l.pp, l.tp, l.dp, l.virtual_stages, cell(l.schedule), l.microbatch_size, l.microbatches,
                        cell(stage_layers_label(l.stage_layers)), recompute_name(l.recompute), l.zero, p.step_time_s, p.tokens_per_s, p.mfu,
                        p.bubble_fraction, peak, cell(peak_memory_label(p, topology)), p.power_w, p.run_energy_kwh,
                        p.run_cost, cell(join(p.notes, "; ")));
  }
  return text;
}

Hostfile format_hostfile(const PlannedLayout& planned, const Topology& topology) {
  Hostfile hostfile;
  std::vector<int> order;  // nodes in the order ranks first reach them
  std::map<int, int> slots;
  int previous = -1;
  for (int device : planned.rank_to_device) {
    const int node = topology.device(device).node;
    if (node != previous && slots.count(node) > 0) hostfile.exact = false;  // the node's ranks are split
    if (slots.count(node) == 0) order.push_back(node);
    ++slots[node];
    previous = node;
  }
  hostfile.text = fmt::format("# {} ranks: {}; mpirun -np {} --hostfile FILE --map-by slot\n",
                              planned.rank_to_device.size(), layout_label(planned.layout), planned.rank_to_device.size());
  for (int node : order) {
    hostfile.text += fmt::format("{} slots={}\n", topology.nodes().at(static_cast<std::size_t>(node)).name, slots[node]);
  }
  if (!std::is_sorted(order.begin(), order.end())) {
    hostfile.notes.push_back("the nodes are listed in rank order, which differs from [[cluster.node]] order");
  }
  for (int node = 0; node < topology.node_count(); ++node) {
    if (slots.count(node) == 0) {
      hostfile.notes.push_back(fmt::format("node {} is unused by this layout", topology.nodes()[static_cast<std::size_t>(node)].name));
    }
  }
  if (!hostfile.exact) {
    hostfile.notes.push_back("a node's ranks are not consecutive, so --map-by slot cannot reproduce rank_to_device: "
                             "place the ranks with a rankfile (mpirun --rankfile) instead");
  }
  return hostfile;
}

}  // namespace llmrt
