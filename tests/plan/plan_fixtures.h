// Planner test inputs built directly (no TOML, no plugins): topologies from ClusterSpec
// structs, GPT-like made-up layer costs, the built-in schedules by name, and a request.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "generators/schedule_generators.h"
#include "plan/planner.h"
#include "topology/cluster_fixtures.h"

namespace llmrt::testing {

// A GPT: embedding, `blocks` equal transformer blocks, a head (tied to the embedding when asked). Costs follow the
// usual counts (2 FLOPs per multiply-add; backward-input and backward-weight each about the
// forward); parameters and activations are per tp rank.
struct GptShape {
  int blocks = 12;
  double d_model = 768;
  int heads = 12;
  double vocab = 50304;
  double seq_len = 1024;
  double element_bytes = 2;  // bf16
  bool tied = false;         // the head's projection tied to the embedding's table ("wte")
  // Layers declare recompute (full for all, selective for blocks) with Korthikanti et al.'s
  // counts: selective drops the attention scores (2·heads·s² per sequence) and recomputes
  // their 4·s²·d FLOPs; full keeps each layer's input.
  bool recompute = false;
};

inline LayerCost layer_cost(double forward, double backward_input, double backward_weight, double activations,
                            double parameters, double output) {
  LayerCost cost;
  cost.forward_flops = forward;
  cost.backward_input_flops = backward_input;
  cost.backward_weight_flops = backward_weight;
  cost.activation_bytes = activations;
  cost.parameter_bytes = parameters;
  cost.output_bytes = output;
  return cost;
}

inline LayerCostFn gpt_costs(GptShape shape) {
  return [shape](int tp, int microbatch_size) -> Result<std::vector<LayerCost>> {
    if (shape.heads % tp != 0) return input_error("tp = {} does not divide heads = {}", tp, shape.heads);
    const double tokens = shape.seq_len * microbatch_size;
    const double d = shape.d_model, eb = shape.element_bytes, hidden = tokens * d * eb;
    LayerCost embedding = layer_cost(2 * tokens * d, 0, 2 * tokens * d, hidden, shape.vocab * d * eb / tp, hidden);
    const double block_flops = (24 * d * d * tokens + 4 * shape.seq_len * tokens * d) / tp;
    const double block_activations = 18 * hidden / tp + 2 * shape.heads * shape.seq_len * tokens * eb / tp;
    LayerCost block = layer_cost(block_flops, block_flops, block_flops, block_activations, 12 * d * d * eb / tp, hidden);
    const double head_flops = 2 * tokens * d * shape.vocab / tp;
    LayerCost head = layer_cost(head_flops, head_flops, head_flops, tokens * shape.vocab * 4 / tp, shape.vocab * d * eb / tp, 0);
    if (shape.tied) embedding.tied_parameter_bytes["wte"] = head.tied_parameter_bytes["wte"] = embedding.parameter_bytes;
    if (shape.recompute) {
      embedding.supports_full = block.supports_full = head.supports_full = block.supports_selective = true;
      embedding.input_bytes = tokens * 4;  // the token ids
      block.input_bytes = head.input_bytes = hidden;
      block.selective_activation_bytes = 18 * hidden / tp;
      block.selective_recompute_flops = 4 * shape.seq_len * tokens * d / tp;
    }
    std::vector<LayerCost> costs{embedding};
    costs.insert(costs.end(), static_cast<std::size_t>(shape.blocks), block);
    costs.push_back(head);
    return costs;
  };
}

// `layers` identical layers of `flops` per pass, no parameters to speak of, nothing sent.
inline LayerCostFn equal_costs(int layers, double flops, double output_bytes = 0) {
  return [=](int, int) -> Result<std::vector<LayerCost>> {
    return std::vector<LayerCost>(static_cast<std::size_t>(layers),
                                  layer_cost(flops, flops, flops, 1e6, 1e3, output_bytes));
  };
}

// The built-in generators as a verified-schedule source, as the registry's would give them.
inline ScheduleSource builtin_schedules() {
  return [](const std::string& name, const ScheduleShape& shape) -> Result<std::shared_ptr<const VerifiedSchedule>> {
    const char* (*check)(const ScheduleShape&) = nullptr;
    std::vector<llmrt_action> (*actions)(const ScheduleShape&, int) = nullptr;
    if (name == "gpipe") check = check_gpipe_shape, actions = gpipe_actions;
    if (name == "1f1b") check = check_one_f_one_b_shape, actions = one_f_one_b_actions;
    if (name == "interleaved-1f1b") check = check_interleaved_1f1b_shape, actions = interleaved_1f1b_actions;
    if (name == "zb-h1") check = check_zb_h1_shape, actions = zb_h1_actions;
    if (check == nullptr) return input_error("no schedule named {}", name);
    if (const char* why = check(shape)) return input_error("{}: {}", name, why);
    LLMRT_ASSIGN_OR_RETURN(VerifiedSchedule verified,
                           verify_action_lists(name, "", shape, [&](int rank) -> Result<std::vector<llmrt_action>> {
                             return actions(shape, rank);
                           }));
    return std::make_shared<const VerifiedSchedule>(std::move(verified));
  };
}

// The topology and cluster a request points to, kept alive together.
struct PlanFixture {
  ClusterSpec cluster;
  std::unique_ptr<Topology> topology;
  PlanRequest request;

  PlanFixture(ClusterSpec spec, LayerCostFn costs, std::int64_t global_batch, Precision precision = Precision::kBf16)
      : cluster(std::move(spec)) {
    auto catalog = DeviceCatalog::build({});
    BOOST_REQUIRE(catalog.ok());
    auto built = build_topology(cluster, *catalog);
    BOOST_REQUIRE_MESSAGE(built.ok(), error_text(built));
    topology = std::make_unique<Topology>(std::move(*built));
    request.topology = topology.get();
    request.cluster = &cluster;
    request.world_size = topology->world_size();
    request.seq_len = 1024;
    request.train.global_batch.value = global_batch;
    request.train.precision = precision;
    request.train.optimizer.component.value = "adamw";
    request.layer_costs = std::move(costs);
    request.schedule_source = builtin_schedules();
  }

  PlanResult plan() const {
    auto result = plan_layouts(request);
    BOOST_REQUIRE_MESSAGE(result.ok(), error_text(result));
    return std::move(*result);
  }
};

// `nodes` nodes of `gpus` cards each, NVLink islands of `island` cards, the given network.
inline ClusterSpec nodes_of(int nodes, int gpus, const std::string& model, int island, NetworkSpec network) {
  std::vector<NodeSpec> specs;
  for (int n = 0; n < nodes; ++n) {
    std::vector<LinkSpec> links;
    for (int first = 0; island > 1 && first < gpus; first += island) {
      std::vector<int> members;
      for (int g = first; g < first + island; ++g) members.push_back(g);
      links.push_back(make_link(LinkKind::kNvlink, members, 10 * n + 3));
    }
    specs.push_back(gpu_node("node" + std::to_string(n), model, gpus, 10 * n + 2, links));
  }
  ClusterSpec cluster = make_cluster(std::move(specs));
  cluster.network = network;
  return cluster;
}

inline SourcePos config_pos(int line, const std::string& key) { return pos_at(line, 1, key); }

}  // namespace llmrt::testing
