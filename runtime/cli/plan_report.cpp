#include "cli/plan_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "util/strings.h"

namespace llmrt {
namespace {

// ------------------------------------------------------------------------ number formats
// "1,234,567": throughput and power are read as magnitudes, so digits are grouped.
std::string grouped(double value) {
  const std::string digits = fmt::format("{:.0f}", std::max(0.0, value));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "412 ms", "3.25 s": three significant digits are all the cost model supports.
std::string seconds_label(double seconds) {
  if (seconds < 1e-3) return fmt::format("{:.0f} µs", seconds * 1e6);
  if (seconds < 1) return fmt::format("{:.{}f} ms", seconds * 1e3, seconds < 0.01 ? 2 : seconds < 0.1 ? 1 : 0);
  return fmt::format("{:.{}f} s", seconds, seconds < 10 ? 2 : seconds < 100 ? 1 : 0);
}

// "412 Wh", "128.6 kWh": a short run's energy would otherwise print as 0.0 kWh.
std::string energy_label(double kwh) {
  return kwh < 1 ? fmt::format("{:.3g} Wh", kwh * 1e3) : fmt::format("{:.1f} kWh", kwh);
}

// "1 layout", "3 layouts"
// "3 h 20 min", "12 min", "45 s": a run's training time at the predicted step.
std::string duration_label(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  const auto minutes = static_cast<long long>(std::llround(seconds / 60));
  if (minutes < 60) return fmt::format("{} min", minutes);
  if (minutes < 48 * 60) return fmt::format("{} h {} min", minutes / 60, minutes % 60);
  return fmt::format("{:.1f} days", seconds / 86400);
}

std::string count_of(std::size_t count, const char* noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

std::string percent(double fraction) { return fmt::format("{:.1f} %", fraction * 100); }

std::string microbatch_label(const Layout& layout) {
  return fmt::format("{} × {}", layout.microbatch_size, layout.microbatches);
}

// "dgx01 GPUs 0-3", "dgx01 GPUs 0-7 + dgx02 GPUs 0-1", "localhost ranks 0-1".
std::string describe_devices(const Topology& topology, std::vector<int> devices) {
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
  std::map<int, std::vector<int>> locals_by_node;
  for (int device : devices) locals_by_node[topology.device(device).node].push_back(topology.device(device).local_index);
  std::vector<std::string> parts;
  for (const auto& [node, locals] : locals_by_node) {
    std::vector<std::string> ranges;
    for (std::size_t i = 0; i < locals.size();) {
      std::size_t j = i;
      while (j + 1 < locals.size() && locals[j + 1] == locals[j] + 1) ++j;
      ranges.push_back(j == i ? std::to_string(locals[i]) : fmt::format("{}-{}", locals[i], locals[j]));
      i = j + 1;
    }
    const TopologyNode& info = topology.nodes().at(static_cast<std::size_t>(node));
    parts.push_back(fmt::format("{} {} {}", info.name, info.is_cpu ? "ranks" : (locals.size() == 1 ? "GPU" : "GPUs"),
                                join(ranges, ",")));
  }
  return join(parts, " + ");
}

// ------------------------------------------------------------------------ table
struct Column {
  std::string title;
  bool right = false;  // numbers align right
};

std::string format_columns(const std::vector<Column>& columns, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const Column& column : columns) widths.push_back(column.title.size());
  // Width in code points, so "·", "×" and "µ" (two bytes each) do not skew the columns.
  auto width_of = [](const std::string& text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], width_of(row[c]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(widths[c] - width_of(cells[c]), ' ');
      text += columns[c].right ? pad + cells[c] : cells[c] + (c + 1 < cells.size() ? pad : "");
      if (c + 1 < cells.size()) text += "  ";
    }
    return text + "\n";
  };
  std::vector<std::string> titles;
  for (const Column& column : columns) titles.push_back(column.title);
  std::string text = line(titles);
  for (const auto& row : rows) text += line(row);
  return text;
}


// ------------------------------------------------------------------------ explanation
// The slowest link of a ring over `devices` (in rank order): what bounds its collectives.
LinkInfo slowest_ring_link(const Topology& topology, const std::vector<int>& devices) {
  LinkInfo slowest{LinkClass::kSameDevice, 0, 0};
  bool first = true;
  for (std::size_t i = 0; devices.size() > 1 && i < devices.size(); ++i) {
    const LinkInfo link = topology.link_between(devices[i], devices[(i + 1) % devices.size()]);
    if (first || link.bandwidth_gbps < slowest.bandwidth_gbps) slowest = link;
    first = false;
  }
  return slowest;
}

std::string link_label(const Topology& topology, const LinkInfo& link) {
  std::string name(link_class_name(link.link_class));
  if (link.link_class == LinkClass::kNetwork) {
    name += topology.network().kind == NetworkKind::kInfiniband ? " (InfiniBand)" : " (Ethernet)";
  }
  return fmt::format("{} {} Gbit/s, {} µs", name, grouped(link.bandwidth_gbps), link.latency_us);
}

// Where one group's devices sit: "inside NVLink island 1 (dgx01 GPUs 0-3)" or the slowest link.
std::string describe_group(const Topology& topology, const std::vector<int>& devices) {
  const int island = topology.device(devices.front()).island;
  const bool one_island = std::all_of(devices.begin(), devices.end(),
                                      [&](int d) { return topology.device(d).island == island; });
  if (one_island && devices.size() > 1 && topology.islands().at(static_cast<std::size_t>(island)).size() > 1) {
    return fmt::format("inside NVLink island {} ({})", island, describe_devices(topology, devices));
  }
  return fmt::format("{} over {}", describe_devices(topology, devices),
                     link_label(topology, slowest_ring_link(topology, devices)));
}

// Every group along one axis: the devices of ranks whose other two coordinates agree.
std::vector<std::vector<int>> groups_along(const PlannedLayout& planned, char axis) {
  const Layout& layout = planned.layout;
  std::map<std::pair<int, int>, std::vector<int>> groups;
  for (int rank = 0; rank < layout.world_size(); ++rank) {
    const RankCoords c = layout.coords_of(rank);
    const auto key = axis == 't' ? std::make_pair(c.pp, c.dp) : axis == 'd' ? std::make_pair(c.pp, c.tp)
                                                                             : std::make_pair(c.tp, c.dp);
    groups[key].push_back(planned.rank_to_device.at(static_cast<std::size_t>(rank)));
  }
  std::vector<std::vector<int>> out;
  for (auto& [key, devices] : groups) out.push_back(std::move(devices));
  return out;
}

std::string explain_axis(const Topology& topology, const PlannedLayout& planned, char axis, int degree,
                         const std::string& name, const std::string& why) {
  if (degree == 1) return fmt::format("  {}: 1 — {}\n", name, why);
  const auto groups = groups_along(planned, axis);
  std::string text = fmt::format("  {}: {} groups of {} — {}\n", name, groups.size(), degree, why);
  const std::size_t shown = std::min<std::size_t>(groups.size(), 4);
  for (std::size_t g = 0; g < shown; ++g) text += fmt::format("    {}\n", describe_group(topology, groups[g]));
  if (groups.size() > shown) text += fmt::format("    … {} more alike\n", groups.size() - shown);
  return text;
}

// Pipeline boundaries: the slowest link any rank pair crosses between stage r and r + 1.
std::string explain_stages(const Topology& topology, const PlannedLayout& planned) {
  const Layout& layout = planned.layout;
  std::string text = fmt::format("  pp: {} stages — a boundary carries one activation per microbatch, so the "
                                 "stages take the slow links\n", layout.pp);
  for (int r = 0; r < layout.pp; ++r) {
    std::vector<int> devices, layers;
    double peak = 0, scratch = 0;
    for (int rank = 0; rank < layout.world_size(); ++rank) {
      if (layout.coords_of(rank).pp != r) continue;
      devices.push_back(planned.rank_to_device.at(static_cast<std::size_t>(rank)));
      if (static_cast<std::size_t>(rank) < planned.peak_memory_gib.size()) {
        peak = std::max(peak, planned.peak_memory_gib[static_cast<std::size_t>(rank)]);
      }
      if (static_cast<std::size_t>(rank) < planned.scratch_bytes.size()) {
        scratch = std::max(scratch, planned.scratch_bytes[static_cast<std::size_t>(rank)]);
      }
    }
    for (int chunk = 0; chunk < layout.virtual_stages; ++chunk) {
      const auto vs = static_cast<std::size_t>(layout.virtual_stage(r, chunk));
      if (vs < layout.stage_layers.size()) layers.push_back(layout.stage_layers[vs]);
    }
    const std::string count = layers.size() == 1 ? count_of(static_cast<std::size_t>(layers.front()), "layer")
                                                 : stage_layers_label(layers) + " layers";
    std::vector<std::string> models;
    for (int device : devices) {
      const std::string& name = topology.device(device).model->name;
      if (std::find(models.begin(), models.end(), name) == models.end()) models.push_back(name);
    }
    // The layers' shared device scratch (the head's logits, mostly) is part of the peak.
    const std::string scratch_part =
        scratch > 0 ? fmt::format(" (scratch {:.2f} GiB)", scratch / (1024.0 * 1024.0 * 1024.0)) : "";
    text += fmt::format("    stage {}: {} on {} ({}), peak {:.1f} GiB{}\n", r, count, describe_devices(topology, devices),
                        join(models, " + "), peak, scratch_part);
    if (r + 1 == layout.pp && layout.virtual_stages == 1) break;
    const int next = (r + 1) % layout.pp;  // with virtual stages the last wraps to the first
    LinkInfo slowest{LinkClass::kSameDevice, 0, 0};
    bool first = true;
    for (int t = 0; t < layout.tp; ++t) {
      for (int d = 0; d < layout.dp; ++d) {
        const int a = planned.rank_to_device.at(static_cast<std::size_t>(layout.rank_of({r, t, d})));
        const int b = planned.rank_to_device.at(static_cast<std::size_t>(layout.rank_of({next, t, d})));
        const LinkInfo link = topology.link_between(a, b);
        if (first || link.bandwidth_gbps < slowest.bandwidth_gbps) slowest = link;
        first = false;
      }
    }
    if (layout.pp > 1) text += fmt::format("      → stage {} over {}\n", next, link_label(topology, slowest));
  }
  return text;
}

std::string explain_runner_up(const PlannedLayout& best, const PlannedLayout& second) {
  const Layout &a = best.layout, &b = second.layout;
  std::vector<std::string> differs;
  if (a.pp != b.pp) differs.push_back(fmt::format("pp {} vs {}", b.pp, a.pp));
  if (a.tp != b.tp) differs.push_back(fmt::format("tp {} vs {}", b.tp, a.tp));
  if (a.dp != b.dp) differs.push_back(fmt::format("dp {} vs {}", b.dp, a.dp));
  if (a.virtual_stages != b.virtual_stages) differs.push_back(fmt::format("v {} vs {}", b.virtual_stages, a.virtual_stages));
  if (a.schedule != b.schedule) differs.push_back(fmt::format("{} vs {}", b.schedule, a.schedule));
  if (a.microbatch_size != b.microbatch_size) {
    differs.push_back(fmt::format("microbatches {} vs {}", microbatch_label(b), microbatch_label(a)));
  }
  if (a.stage_layers != b.stage_layers) {
    differs.push_back(fmt::format("stages {} vs {}", stage_layers_label(b.stage_layers), stage_layers_label(a.stage_layers)));
  }
  // Busy time = compute plus the communication on the critical path; idle = the bubble.
  const double busy_a = best.step_time_s * (1 - best.bubble_fraction);
  const double busy_b = second.step_time_s * (1 - second.bubble_fraction);
  const double loss = best.tokens_per_s > 0 ? 1 - second.tokens_per_s / best.tokens_per_s : 0;
  // A near tie still shows its size rather than "0.0 %".
  const std::string loss_label = loss >= 0.001 ? percent(loss) : fmt::format("{:.2g} %", loss * 100);
  std::string text = fmt::format("runner-up {} ({}, {}): {} fewer tokens/s, step {} vs {}\n", layout_label(b),
                                 b.schedule, microbatch_label(b), loss_label, seconds_label(second.step_time_s),
                                 seconds_label(best.step_time_s));
  text += fmt::format("  busy {} vs {}, idle (bubble) {} vs {} per step\n", seconds_label(busy_b),
                      seconds_label(busy_a), seconds_label(second.step_time_s - busy_b),
                      seconds_label(best.step_time_s - busy_a));
  text += fmt::format("  it differs in: {}\n", differs.empty() ? "placement only" : join(differs, "; "));
  for (const std::string& note : second.notes) text += fmt::format("  note: {}\n", note);
  return text;
}

std::string explain_infeasible(const PlanResult& result) {
  if (result.infeasible.empty()) return "infeasible: none\n";
  std::string text = fmt::format("infeasible: {}\n", count_of(result.infeasible.size(), "layout"));
  const std::size_t shown = std::min<std::size_t>(result.infeasible.size(), 20);
  for (std::size_t i = 0; i < shown; ++i) {
    const InfeasibleLayout& entry = result.infeasible[i];
    text += fmt::format("  {} {} {}: {}\n", layout_label(entry.layout), entry.layout.schedule,
                        microbatch_label(entry.layout), entry.reason);
  }
  if (result.infeasible.size() > shown) text += fmt::format("  … {} more (--json lists all)\n", result.infeasible.size() - shown);
  return text;
}

// "links per step: nvlink 120 ms (5.1 %), network 1.30 s (40.2 %)"; "" when nothing crosses a link.
std::string link_busy_line(const PlannedLayout& best) {
  std::vector<std::string> parts;
  for (const LinkBusy& busy : best.link_busy) {
    parts.push_back(fmt::format("{} {} ({})", busy.link_class, seconds_label(busy.seconds_per_step), percent(busy.share)));
  }
  return parts.empty() ? "" : fmt::format("links busy per step: {}\n", join(parts, ", "));
}

// "without RTX-3090: pp1·tp4·dp1 v1 at 12,345 tokens/s (+8 %), 0.52 J/token (−20 %), 4 devices".
std::string without_device_lines(const PlanResult& result) {
  std::string text;
  for (const DeviceAlternative& alt : result.without_device) {
    const double joules = alt.best.power_w / alt.best.tokens_per_s;
    text += fmt::format("without {}: {} {} at {} tokens/s ({:+.0f} %), {:.3g} J/token ({:+.0f} %) on {} devices — {}\n",
                        alt.model, layout_label(alt.best.layout), alt.best.layout.schedule,
                        grouped(alt.best.tokens_per_s), (alt.speedup - 1) * 100, joules,
                        (alt.energy_per_token_ratio - 1) * 100, alt.devices_left,
                        alt.speedup > 1 ? "the room is faster without them" : "cheaper per token without them");
  }
  return text;
}

}  // namespace

// The largest peak per device model, in device order of first appearance.
std::vector<std::pair<std::string, double>> peak_memory_by_model(const PlannedLayout& planned,
                                                                 const Topology& topology) {
  std::vector<std::pair<std::string, double>> peaks;
  for (std::size_t rank = 0; rank < planned.peak_memory_gib.size() && rank < planned.rank_to_device.size(); ++rank) {
    const std::string& model = topology.device(planned.rank_to_device[rank]).model->name;
    auto found = std::find_if(peaks.begin(), peaks.end(), [&](const auto& entry) { return entry.first == model; });
    if (found == peaks.end()) {
      peaks.emplace_back(model, planned.peak_memory_gib[rank]);
    } else {
      found->second = std::max(found->second, planned.peak_memory_gib[rank]);
    }
  }
  return peaks;
}

std::string layout_label(const Layout& layout) {
  return fmt::format("pp{}·tp{}·dp{} v{}", layout.pp, layout.tp, layout.dp, layout.virtual_stages);
}

std::string savers_label(const Layout& layout) {
  if (layout.recompute == Recompute::kNone && layout.zero == 0) return "—";
  if (layout.zero == 0) return std::string(recompute_name(layout.recompute));
  if (layout.recompute == Recompute::kNone) return "zero 1";
  return fmt::format("{}, zero 1", recompute_name(layout.recompute));
}

std::string stage_layers_label(const std::vector<int>& stage_layers) {
  return fmt::format("[{}]", fmt::join(stage_layers, ","));
}

std::string format_parallel_block(const PlannedLayout& planned) {
  const Layout& layout = planned.layout;
  std::string schedule;  // a TOML basic string: names are plain, but a plugin's may quote
  for (char c : layout.schedule) {
    if (c == '"' || c == '\\') schedule += '\\';
    schedule += c;
  }
  return fmt::format("# llmrt plan: {} at {} tokens/s predicted; replaces the config's [parallel] table\n"
                     "[parallel]\npp = {}\ntp = {}\ndp = {}\nschedule = \"{}\"\nvirtual_stages = {}\n"
                     "microbatch_size = {}\nstage_layers = [{}]\nzero = {}\n# and in [train]: recompute = \"{}\"\n",
                     layout_label(layout), grouped(planned.tokens_per_s), layout.pp, layout.tp, layout.dp, schedule,
                     layout.virtual_stages, layout.microbatch_size, fmt::join(layout.stage_layers, ", "), layout.zero,
                     recompute_name(layout.recompute));
}

std::string peak_memory_label(const PlannedLayout& planned, const Topology& topology) {
  std::vector<std::string> parts;
  for (const auto& [model, gib] : peak_memory_by_model(planned, topology)) parts.push_back(fmt::format("{} {:.1f} GiB", model, gib));
  return join(parts, ", ");
}

std::string format_plan_table(const PlanResult& result, const Topology& topology, int top) {
  const std::vector<Column> columns = {{"#", true},         {"layout"},          {"schedule"},
                                       {"microbatches", true}, {"stage layers"},   {"savers"},
                                       {"step", true},
                                       {"tokens/s", true},  {"MFU", true},       {"bubble", true},
                                       {"peak memory"},     {"power", true}};
  std::vector<std::vector<std::string>> rows;
  const std::size_t shown = std::min(result.ranked.size(), static_cast<std::size_t>(std::max(top, 0)));
  for (std::size_t i = 0; i < shown; ++i) {
    const PlannedLayout& p = result.ranked[i];
    rows.push_back({std::to_string(i + 1), layout_label(p.layout), p.layout.schedule, microbatch_label(p.layout),
                    stage_layers_label(p.layout.stage_layers), savers_label(p.layout), seconds_label(p.step_time_s),
                    grouped(p.tokens_per_s),
                    percent(p.mfu), percent(p.bubble_fraction), peak_memory_label(p, topology),
                    grouped(p.power_w) + " W"});
  }
  std::string text = format_columns(columns, rows);
  if (result.ranked.size() > shown) {
    const std::size_t more = result.ranked.size() - shown;
    text += fmt::format("{} more feasible layout{} (--top N shows more)\n", more, more == 1 ? "" : "s");
  }
  if (!result.infeasible.empty()) {
    // `plan` and `sweep` share this table, and only `plan` has --explain; --json works for both.
    text += fmt::format("{} infeasible (`llmrt plan --explain` or --json says why)\n",
                        count_of(result.infeasible.size(), "layout"));
  }
  if (!result.ranked.empty()) {
    const PlannedLayout& best = result.ranked.front();
    text += fmt::format("best: {} {} — {} and {} for the run", layout_label(best.layout), best.layout.schedule,
                        duration_label(best.run_time_s), energy_label(best.run_energy_kwh));
    const std::string unit = result.currency.empty() ? "" : " " + result.currency;
    text += best.run_cost > 0 ? fmt::format(", cost {:.2f}{}\n", best.run_cost, unit) : "\n";
    text += link_busy_line(best);
  }
  text += without_device_lines(result);
  return text;
}

// One line per node of the best layout: its cards, the pipeline stages it hosts, its largest
// rank's peak memory against the card, and its cards' draw at TDP.
std::string explain_nodes(const Topology& topology, const PlannedLayout& best) {
  const int per_stage = best.layout.tp * best.layout.dp;
  std::string text = "  per node:\n";
  for (std::size_t n = 0; n < topology.nodes().size(); ++n) {
    const TopologyNode& node = topology.nodes()[n];
    std::set<int> stages;
    double peak_gib = 0, card_gib = 0, tdp_w = 0;
    std::map<std::string, int> cards;
    for (std::size_t rank = 0; rank < best.rank_to_device.size(); ++rank) {
      const Device& device = topology.device(best.rank_to_device[rank]);
      if (device.node != static_cast<int>(n)) continue;
      stages.insert(static_cast<int>(rank) / per_stage);
      peak_gib = std::max(peak_gib, best.peak_memory_gib[rank]);
      card_gib = card_gib == 0 ? device.memory_gib() : std::min(card_gib, device.memory_gib());
      tdp_w += device.tdp_w();
      ++cards[device.model->name];
    }
    if (stages.empty()) {
      text += fmt::format("    {}: unused\n", node.name);
      continue;
    }
    std::vector<std::string> card_parts, stage_parts;
    for (const auto& [model, count] : cards) card_parts.push_back(fmt::format("{} × {}", count, model));
    for (int stage : stages) stage_parts.push_back(std::to_string(stage));
    text += fmt::format("    {}: {}, stage{} {}, peak {:.1f} of {:.0f} GiB, {} W at TDP\n", node.name,
                        join(card_parts, " + "), stages.size() == 1 ? "" : "s", join(stage_parts, ","), peak_gib,
                        card_gib, grouped(tdp_w));
  }
  return text;
}

std::string format_plan_explanation(const PlanResult& result, const Topology& topology) {
  if (result.ranked.empty()) return explain_infeasible(result);
  const PlannedLayout& best = result.ranked.front();
  const Layout& layout = best.layout;
  std::string text = fmt::format("why {} ({}, microbatches {}):\n", layout_label(layout), layout.schedule,
                                 microbatch_label(layout));
  text += explain_axis(topology, best, 't', layout.tp, "tp",
                       "tensor parallelism all-reduces inside every layer, so its groups take the fastest links");
  text += explain_stages(topology, best);
  text += explain_axis(topology, best, 'd', layout.dp, "dp",
                       "gradients are all-reduced once per step, over the links that remain");
  text += explain_nodes(topology, best);
  text += best.saver_reason.empty()
              ? fmt::format("  memory savers: {} (fits and runs fastest without)\n", savers_label(layout))
              : fmt::format("  memory savers: {}\n", best.saver_reason);
  for (const std::string& note : best.notes) text += fmt::format("  note: {}\n", note);
  if (result.ranked.size() > 1) {
    text += '\n';
    text += explain_runner_up(best, result.ranked[1]);
  } else {
    text += "\nno runner-up: this is the only feasible layout\n";
  }
  text += '\n';
  return text + explain_infeasible(result);
}

}  // namespace llmrt
