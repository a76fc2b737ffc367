// The pure parts of rank placement: the launcher's local rank, host names, card models.
#include "job/placement.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>
#include <vector>

namespace llmrt {
namespace {

std::optional<int> parse_int(const char* text) {
  if (text == nullptr) return std::nullopt;
  const std::string_view view(text);
  int value = 0;
  const auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (error != std::errc() || end != view.data() + view.size()) return std::nullopt;
  return value;
}

// Slurm's tasks per node of a uniform step: "8" or "8(x2)"; nullopt for "8,4" or "2(x3),1".
std::optional<int> uniform_tasks_per_node(const char* text) {
  if (text == nullptr) return std::nullopt;
  const std::string_view view(text);
  if (view.find(',') != std::string_view::npos) return std::nullopt;
  return parse_int(std::string(view.substr(0, view.find('('))).c_str());
}

std::optional<LocalRank> checked(std::optional<int> rank, std::optional<int> size, const char* source) {
  if (!rank || !size || *rank < 0 || *size < 1 || *rank >= *size) return std::nullopt;
  return LocalRank{*rank, *size, source};
}

std::string lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Upper-case letters and digits only: "NVIDIA GeForce RTX 3090" → "NVIDIAGEFORCERTX3090".
std::string squeezed(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c)) out.push_back(static_cast<char>(std::toupper(c)));
  }
  return out;
}

// A catalog name's parts that say the memory size or the form factor, not the chip.
bool is_variant_part(const std::string& part) {
  static const std::set<std::string> kFormFactors = {"SXM", "SXM2", "SXM4", "SXM5", "PCIE", "NVL", "HBM3", "HBM3E"};
  if (kFormFactors.count(part)) return true;
  return part.size() > 2 && part.compare(part.size() - 2, 2, "GB") == 0 &&
         std::all_of(part.begin(), part.end() - 2, [](unsigned char c) { return std::isdigit(c); });
}

// "H100-SXM" → "H100", "A100-80GB-PCIE" → "A100", "RTX-3090" → "RTX3090": the chip, without
// memory size and form factor.
std::string model_family(std::string_view catalog_model) {
  std::string family;
  std::string part;
  for (std::size_t i = 0; i <= catalog_model.size(); ++i) {
    const bool separator = i == catalog_model.size() || catalog_model[i] == '-' || catalog_model[i] == ' ' ||
                           catalog_model[i] == '_';
    if (!separator) {
      part.push_back(catalog_model[i]);
      continue;
    }
    part = squeezed(part);
    if (!is_variant_part(part)) family += part;
    part.clear();
  }
  return family;
}

}  // namespace

std::optional<LocalRank> local_rank_from_env(const EnvLookup& env) {
  if (env("OMPI_COMM_WORLD_LOCAL_RANK") != nullptr) {
    return checked(parse_int(env("OMPI_COMM_WORLD_LOCAL_RANK")), parse_int(env("OMPI_COMM_WORLD_LOCAL_SIZE")),
                   "OMPI_COMM_WORLD_LOCAL_RANK");
  }
  if (env("SLURM_LOCALID") != nullptr) {
    std::optional<int> size = parse_int(env("SLURM_NTASKS_PER_NODE"));
    if (!size) size = uniform_tasks_per_node(env("SLURM_STEP_TASKS_PER_NODE"));
    if (!size) size = uniform_tasks_per_node(env("SLURM_TASKS_PER_NODE"));
    return checked(parse_int(env("SLURM_LOCALID")), size, "SLURM_LOCALID");
  }
  return std::nullopt;
}

bool same_host(std::string_view host, std::string_view node_name) {
  if (lowered(node_name) == "localhost") return true;
  auto short_name = [](std::string_view name) { return lowered(name.substr(0, name.find('.'))); };
  return !host.empty() && short_name(host) == short_name(node_name);
}

bool card_model_matches(std::string_view catalog_model, std::string_view device_name) {
  const std::string family = model_family(catalog_model);
  if (family.empty()) return true;  // a name of variants only says nothing about the chip
  // The device's name squeezed the same way, remembering where a space or dash stood: "H100 80GB"
  // is an H100, "A100" squeezed is not an A10.
  std::string name;
  std::vector<bool> separated;  // [i]: a separator stood before name[i]
  bool gap = false;
  for (unsigned char c : device_name) {
    if (!std::isalnum(c)) {
      gap = true;
      continue;
    }
    name.push_back(static_cast<char>(std::toupper(c)));
    separated.push_back(gap);
    gap = false;
  }
  for (std::size_t at = name.find(family); at != std::string::npos; at = name.find(family, at + 1)) {
    const std::size_t end = at + family.size();
    if (end == name.size() || separated[end] || !std::isdigit(static_cast<unsigned char>(name[end]))) return true;
  }
  return false;
}

namespace {

const char* const kRehearse = "`--rehearse` runs the same job on CPU ranks instead (docs/launch.md)";

// Per-task binding: this rank sees one GPU, identified among its host's ranks by PCI bus id.
Result<int> choose_single_gpu(const GpuChoice& choice) {
  const std::string& mine = choice.visible.front().pci_bus_id;
  const std::vector<std::string>& ids = choice.local_single_gpus;
  for (std::size_t other = 0; other < ids.size(); ++other) {
    if (static_cast<int>(other) == choice.local.rank) continue;
    if (ids[other].empty()) {
      return input_error("{}; on host {} local rank {} sees only GPU {} (per-task binding) but local rank {} sees "
                         "another number of GPUs: bind one GPU to every rank, or let every rank see all of them",
                         choice.expects, choice.host, choice.local.rank, mine, other);
    }
    if (ids[other] == mine) {
      return input_error("{}; on host {} local ranks {} and {} both see only GPU {} (PCI): give each rank its own "
                         "GPU (srun --gpus-per-task=1, or CUDA_VISIBLE_DEVICES naming a different GPU per rank)",
                         choice.expects, choice.host, std::min<int>(choice.local.rank, static_cast<int>(other)),
                         std::max<int>(choice.local.rank, static_cast<int>(other)), mine);
    }
  }
  // The host's ranks' GPUs in PCI bus order are the node's GPUs in the topology's order.
  std::vector<std::string> order(ids.begin(), ids.end());
  std::sort(order.begin(), order.end());
  const int position = static_cast<int>(std::find(order.begin(), order.end(), mine) - order.begin());
  const int expected = choice.local.size >= choice.node_gpus ? choice.slot : choice.local.rank;
  if (position != expected) {
    return input_error("{}; on host {} local rank {} is the topology's GPU {} but was bound to PCI {}, GPU {} in PCI "
                       "bus order of the {} its host's ranks were given: bind GPUs to ranks in order (srun "
                       "--gpu-bind=map_gpu:0,1,..., or CUDA_VISIBLE_DEVICES=$LOCAL_RANK) (docs/launch.md)",
                       choice.expects, choice.host, choice.local.rank, expected, mine, position, order.size());
  }
  return 0;
}

}  // namespace

Result<int> choose_gpu(const GpuChoice& choice) {
  const int usable = static_cast<int>(choice.visible.size());
  if (usable == 0) return input_error("{}; this host ({}) has no CUDA device. {}", choice.expects, choice.host, kRehearse);
  if (choice.share && usable < choice.local.size) return choice.local.rank % usable;
  // Per-task binding: one GPU each. Every rank seeing the same one is a host with one GPU.
  const std::vector<std::string>& ids = choice.local_single_gpus;
  const bool one_for_all = std::all_of(ids.begin(), ids.end(), [&](const std::string& id) {
    return id == choice.visible.front().pci_bus_id;
  });
  if (usable == 1 && choice.local.size > 1 && static_cast<int>(ids.size()) == choice.local.size && !one_for_all) {
    return choose_single_gpu(choice);
  }
  if (usable < choice.local.size) {
    std::map<std::string, int> counts;
    for (const HostGpu& gpu : choice.visible) ++counts[gpu.name];
    std::vector<std::string> parts;
    for (const auto& [name, count] : counts) parts.push_back(std::to_string(count) + " × " + name);
    std::string has;
    for (const std::string& part : parts) has += (has.empty() ? "" : " + ") + part;
    return input_error("{}; this host ({}) has {} for its {} local ranks (one GPU per rank: let every rank see all "
                       "of the node's GPUs, or exactly one each; CUDA_VISIBLE_DEVICES may hide some). {}",
                       choice.expects, choice.host, has, choice.local.size, kRehearse);
  }
  // All of the node's GPUs visible: the topology's index; fewer (a node split over hosts): the local rank.
  const int pick = usable >= choice.node_gpus ? choice.slot : choice.local.rank;
  if (pick >= usable) {
    return input_error("{}; this host ({}) shows {} GPUs, fewer than GPU {} the rank's slot names", choice.expects,
                       choice.host, usable, pick);
  }
  return pick;
}

}  // namespace llmrt
