// The cross-rank plugin check: silent divergence between nodes (one node with an older build of
// a layer) is worse than a refusal, so all ranks compare and fail together.
#include "plugin/plugin_agreement.h"

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "util/strings.h"

namespace llmrt {
namespace {

// name -> "kind version (build B)" for one rank, as a line-per-component text.
std::string describe_registry(const Registry& registry) {
  std::string text;
  for (const Component* c : registry.components()) {
    text += fmt::format("{}\t{} {} (build {})\n", c->name, kind_name(c->kind), c->version, c->plugin->build_id);
  }
  return text;
}

std::map<std::string, std::string> parse_description(const std::string& text) {
  std::map<std::string, std::string> entries;
  std::stringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) {
    const auto tab = line.find('\t');
    if (tab != std::string::npos) entries[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return entries;
}

// Every rank's description, gathered on every rank.
std::vector<std::string> all_gather_text(const std::string& mine, MPI_Comm comm) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  int length = static_cast<int>(mine.size());
  std::vector<int> lengths(size), offsets(size);
  MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm);
  int total = 0;
  for (int r = 0; r < size; ++r) offsets[r] = total, total += lengths[r];
  std::string gathered(static_cast<std::size_t>(total), '\0');
  MPI_Allgatherv(mine.data(), length, MPI_CHAR, gathered.data(), lengths.data(), offsets.data(), MPI_CHAR, comm);
  std::vector<std::string> texts;
  for (int r = 0; r < size; ++r) texts.push_back(gathered.substr(offsets[r], lengths[r]));
  return texts;
}

// The differences of one rank from rank 0, e.g. "rank 1 has 'x' layer 1.0 (build B), rank 0 lacks it".
std::vector<std::string> differences(const std::map<std::string, std::string>& reference,
                                     const std::map<std::string, std::string>& other, int rank) {
  std::vector<std::string> found;
  for (const auto& [name, what] : other) {
    auto it = reference.find(name);
    if (it == reference.end()) {
      found.push_back(fmt::format("rank {} has '{}' {} which rank 0 lacks", rank, name, what));
    } else if (it->second != what) {
      found.push_back(fmt::format("'{}' is {} on rank 0 but {} on rank {}", name, it->second, what, rank));
    }
  }
  for (const auto& [name, what] : reference) {
    if (other.count(name) == 0) found.push_back(fmt::format("rank 0 has '{}' {} which rank {} lacks", name, what, rank));
  }
  return found;
}

}  // namespace

Status check_plugins_agree(const Registry& registry, MPI_Comm comm) {
  const std::vector<std::string> texts = all_gather_text(describe_registry(registry), comm);
  const auto reference = parse_description(texts[0]);
  std::vector<std::string> ranks;
  std::vector<std::string> details;
  for (std::size_t r = 1; r < texts.size(); ++r) {
    auto found = differences(reference, parse_description(texts[r]), static_cast<int>(r));
    if (found.empty()) continue;
    ranks.push_back(std::to_string(r));
    details.insert(details.end(), found.begin(), found.end());
  }
  if (ranks.empty()) return Status::success();
  return input_error("plugins differ across ranks: rank(s) {} differ from rank 0: {}; every rank must load the "
                     "same plugin builds (check model.plugin_paths and LLMRT_PLUGIN_PATH on every node)",
                     join(ranks, ", "), join(details, "; "));
}

}  // namespace llmrt
