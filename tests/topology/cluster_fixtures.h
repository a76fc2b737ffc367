// ClusterSpec pieces for topology tests, built directly (no TOML), each with a distinct
// source position so tests can check that errors name the right one.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/spec.h"
#include "util/status.h"

namespace llmrt::testing {

// The error message of a failed result, "" otherwise: Boost evaluates a check's message even
// when the check passes, so it must not call error() on a success.
template <typename T>
std::string error_text(const Result<T>& result) {
  return result.ok() ? std::string() : result.error().message();
}

inline SourcePos pos_at(int line, int column, std::string key_path) {
  return SourcePos{"lab.toml", line, column, std::move(key_path)};
}

inline LinkSpec make_link(LinkKind kind, std::vector<int> gpus, int line,
                          std::optional<double> bandwidth_gbps = std::nullopt) {
  LinkSpec link;
  link.kind = kind;
  link.gpus = {std::move(gpus), pos_at(line, 12, "cluster.node.links.gpus")};
  link.bandwidth_gbps = bandwidth_gbps;
  link.pos = pos_at(line, 3, "cluster.node.links");
  return link;
}

inline NodeSpec gpu_node(std::string name, std::string model, int count, int line,
                         std::vector<LinkSpec> links = {}) {
  NodeSpec node;
  node.name = std::move(name);
  node.gpus.push_back(GpuGroupSpec{{std::move(model), pos_at(line + 1, 8, "cluster.node.gpus.model")}, count});
  node.links = std::move(links);
  node.pos = pos_at(line, 1, "cluster.node");
  return node;
}

inline NodeSpec cpu_node(std::string name, int ranks, int threads, int line) {
  NodeSpec node;
  node.name = std::move(name);
  node.cpu_ranks = ranks;
  node.cpu_threads_per_rank = threads;
  node.pos = pos_at(line, 1, "cluster.node");
  return node;
}

inline ClusterSpec make_cluster(std::vector<NodeSpec> nodes) {
  ClusterSpec cluster;
  cluster.name = "lab";
  cluster.nodes = std::move(nodes);
  cluster.network = {NetworkKind::kInfiniband, 200, 3.5};
  cluster.pos = pos_at(1, 1, "cluster");
  return cluster;
}

}  // namespace llmrt::testing
