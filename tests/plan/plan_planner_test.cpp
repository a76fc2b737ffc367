// plan_layouts end to end on small clusters with answers known in advance: where tp and
// pipeline boundaries go, how a mixed node splits layers, the 1F1B bubble, memory refusals
// and the input errors a fixed [parallel] can cause.
#define BOOST_TEST_MODULE plan_planner
#include <algorithm>
#include <set>

#include "plan/plan_fixtures.h"

namespace llmrt {
namespace {

using testing::PlanFixture;

// Devices of rank group [first, first + size) of a placement.
std::vector<int> group_devices(const PlannedLayout& planned, int first, int size) {
  return {planned.rank_to_device.begin() + first, planned.rank_to_device.begin() + first + size};
}

bool same_node(const Topology& topology, const std::vector<int>& devices) {
  return std::all_of(devices.begin(), devices.end(),
                     [&](int d) { return topology.device(d).node == topology.device(devices.front()).node; });
}

bool same_island(const Topology& topology, const std::vector<int>& devices) {
  return std::all_of(devices.begin(), devices.end(),
                     [&](int d) { return topology.device(d).island == topology.device(devices.front()).island; });
}

std::string describe(const PlannedLayout& p) {
  return fmt::format("pp {} tp {} dp {} {} v{} mbs {} m {} : {:.0f} tok/s", p.layout.pp, p.layout.tp, p.layout.dp,
                     p.layout.schedule, p.layout.virtual_stages, p.layout.microbatch_size, p.layout.microbatches,
                     p.tokens_per_s);
}

BOOST_AUTO_TEST_CASE(tp_goes_inside_the_nvlink_island_of_one_node) {
  // 8 heads, a 6.4B-parameter model in bf16 and a small batch: pipelining would idle, one
  // card cannot hold it, so tensor parallelism over NVLink wins.
  testing::GptShape shape{32, 4096, 32, 50304, 1024, 2};
  PlanFixture fixture(testing::nodes_of(1, 8, "A100-80GB-SXM", 8, {NetworkKind::kInfiniband, 200, 3}),
                      testing::gpt_costs(shape), 8);
  const PlanResult result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  const PlannedLayout& best = result.ranked.front();
  BOOST_TEST_MESSAGE("best: " << describe(best));
  BOOST_TEST(best.layout.tp > 1);
  for (int first = 0; first < best.layout.world_size(); first += best.layout.tp) {
    BOOST_TEST(same_island(*fixture.topology, group_devices(best, first, best.layout.tp)));
  }
  for (std::size_t i = 1; i < result.ranked.size(); ++i) {
    BOOST_TEST(result.ranked[i - 1].tokens_per_s >= result.ranked[i].tokens_per_s * (1 - 1e-4));
  }
}

BOOST_AUTO_TEST_CASE(slow_ethernet_puts_pipeline_boundaries_between_nodes) {
  // 4 nodes × 2 NVLinked cards on 1 GbE: a dp all-reduce of gigabytes or a tp group over
  // the network costs seconds; pipeline sends of a few megabytes do not.
  testing::GptShape shape{24, 2048, 16, 50304, 1024, 2};
  PlanFixture fixture(testing::nodes_of(4, 2, "A100-80GB-PCIE", 2, {NetworkKind::kEthernet, 1, 50}),
                      testing::gpt_costs(shape), 64);
  const PlanResult result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  const PlannedLayout& best = result.ranked.front();
  BOOST_TEST_MESSAGE("best: " << describe(best));
  const Layout& layout = best.layout;
  BOOST_TEST(layout.pp >= 4);
  for (int r = 0; r < layout.pp; ++r) {  // every stage's tp × dp block is inside one node
    BOOST_TEST(same_node(*fixture.topology, group_devices(best, r * layout.tp * layout.dp, layout.tp * layout.dp)));
  }
}

BOOST_AUTO_TEST_CASE(mixed_node_gives_faster_cards_more_layers) {
  ClusterSpec cluster = testing::make_cluster({testing::gpu_node("mixed", "RTX-3090", 2, 2)});
  cluster.nodes[0].gpus.push_back({{"A100-80GB-PCIE", testing::pos_at(4, 8, "cluster.node.gpus.model")}, 2});
  PlanFixture fixture(cluster, testing::equal_costs(54, 1e12), 8);
  fixture.request.parallel.pp.value = 4;
  fixture.request.parallel.tp.value = 1;
  fixture.request.parallel.dp.value = 1;
  fixture.request.schedules = {"1f1b"};
  const PlanResult result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  const PlannedLayout& best = result.ranked.front();
  double fast_layers = 0, slow_layers = 0;
  for (int r = 0; r < 4; ++r) {
    const Device& device = fixture.topology->device(best.rank_to_device[r]);
    (device.model->name == "RTX-3090" ? slow_layers : fast_layers) += best.layout.stage_layers[r];
  }
  const double speed_ratio = 312.0 / 71.0;  // A100 vs RTX 3090, dense bf16 peaks
  BOOST_TEST_MESSAGE("stage layers " << fmt::format("{}", fmt::join(best.layout.stage_layers, ",")));
  BOOST_TEST(fast_layers / slow_layers == speed_ratio, boost::test_tools::tolerance(0.1));
}

// A cluster owner pins the planner's degrees in [parallel] but not stage_layers: the split the
// run asks for (plan_stage_layers) is the planner's split by device speed, not the equal-cost one.
BOOST_AUTO_TEST_CASE(pinned_degrees_get_the_planners_split_on_a_mixed_cluster) {
  ClusterSpec cluster = testing::make_cluster({testing::gpu_node("a", "RTX-3090", 1, 2),
                                               testing::gpu_node("b", "A100-80GB-SXM", 1, 6),
                                               testing::gpu_node("c", "V100-32GB", 2, 10)});
  PlanFixture fixture(cluster, testing::equal_costs(10, 1e12), 8, Precision::kFp32);
  fixture.request.parallel.pp.value = 4;
  fixture.request.parallel.tp.value = 1;
  fixture.request.parallel.dp.value = 1;
  fixture.request.schedules = {"1f1b"};
  const PlanResult result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  const Layout& predicted = result.ranked.front().layout;
  Layout pinned = predicted;
  pinned.stage_layers.clear();
  auto split = plan_stage_layers(fixture.request, pinned);
  BOOST_REQUIRE_MESSAGE(split.ok(), testing::error_text(split));
  BOOST_TEST_MESSAGE("planner " << fmt::format("{}", fmt::join(predicted.stage_layers, ",")));
  BOOST_TEST(*split == predicted.stage_layers, boost::test_tools::per_element());
  // Equal speeds would split otherwise: the bug this guards against.
  auto even = partition_layers(fixture.request.parallel, std::vector<double>(10, 3e12), {}, 4, 1);
  BOOST_REQUIRE(even.ok());
  BOOST_TEST(*even != *split);
  // A split the config gives wins; a layout that does not fit the topology is refused.
  fixture.request.parallel.stage_layers.value = std::vector<int>{1, 2, 3, 4};
  auto given = plan_stage_layers(fixture.request, pinned);
  BOOST_REQUIRE(given.ok());
  BOOST_TEST(*given == (std::vector<int>{1, 2, 3, 4}), boost::test_tools::per_element());
  pinned.dp = 2;
  auto too_big = plan_stage_layers(fixture.request, pinned);
  BOOST_REQUIRE(!too_big.ok());
  BOOST_TEST(too_big.error().message().find("8 ranks") != std::string::npos, too_big.error().message());
}

BOOST_AUTO_TEST_CASE(one_f_one_b_bubble_matches_the_formula) {
  const int p = 4, m = 8;
  PlanFixture fixture(testing::nodes_of(1, p, "A100-80GB-SXM", p, {}), testing::equal_costs(8, 1e15), m);
  fixture.request.parallel.pp.value = p;
  fixture.request.parallel.tp.value = 1;
  fixture.request.parallel.dp.value = 1;
  fixture.request.schedules = {"1f1b"};
  fixture.request.microbatch_sizes = {1};
  const PlanResult result = fixture.plan();
  BOOST_REQUIRE_EQUAL(result.ranked.size(), 1u);
  const double bubble = result.ranked.front().bubble_fraction;
  // Idle over ideal compute is (p−1)/m; idle over the whole step (what is reported) is (p−1)/(m+p−1).
  BOOST_TEST(bubble / (1 - bubble) == double(p - 1) / m, boost::test_tools::tolerance(0.01));
  BOOST_TEST(bubble == double(p - 1) / (m + p - 1), boost::test_tools::tolerance(0.01));
}

BOOST_AUTO_TEST_CASE(model_too_large_is_refused_with_stage_and_shortfall) {
  testing::GptShape shape{96, 12288, 96, 50304, 1024, 2};  // GPT-3 175B
  PlanFixture fixture(testing::nodes_of(1, 2, "RTX-3090", 2, {}), testing::gpt_costs(shape), 8);
  const PlanResult result = fixture.plan();
  BOOST_TEST(result.ranked.empty());
  BOOST_REQUIRE(!result.infeasible.empty());
  int memory_refusals = 0;
  for (const InfeasibleLayout& refused : result.infeasible) {
    if (refused.reason.find("GiB on RTX-3090 (24 GiB)") == std::string::npos) continue;
    ++memory_refusals;
    BOOST_TEST(refused.reason.rfind("stage ", 0) == 0, refused.reason);
    BOOST_TEST(refused.reason.find("GiB short") != std::string::npos, refused.reason);
  }
  BOOST_TEST(memory_refusals > 0);
  BOOST_TEST_MESSAGE(result.infeasible.front().reason);
}

BOOST_AUTO_TEST_CASE(fixed_tp_that_does_not_divide_heads_is_an_input_error) {
  testing::GptShape shape{12, 512, 8, 50304, 1024, 2};
  PlanFixture fixture(testing::nodes_of(1, 6, "A100-80GB-SXM", 6, {}), testing::gpt_costs(shape), 12);
  fixture.request.parallel.tp = {3, testing::config_pos(30, "parallel.tp")};
  auto result = plan_layouts(fixture.request);
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST((result.error().kind() == ErrorKind::kInput));
  BOOST_TEST(result.error().message().find("parallel.tp") != std::string::npos, result.error().message());
  BOOST_TEST(result.error().message().find("heads = 8") != std::string::npos, result.error().message());
  BOOST_TEST(result.error().message().find("lab.toml:30") != std::string::npos, result.error().message());
}

BOOST_AUTO_TEST_CASE(fixed_tp_that_does_not_divide_the_world_is_an_input_error) {
  PlanFixture fixture(testing::nodes_of(1, 8, "A100-80GB-SXM", 8, {}), testing::gpt_costs({}), 8);
  fixture.request.parallel.tp.value = 3;
  auto result = plan_layouts(fixture.request);
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST((result.error().kind() == ErrorKind::kInput));
  BOOST_TEST(result.error().message().find("parallel.tp") != std::string::npos, result.error().message());
}

// Issue #12: `run` with tp = 3 on 8 ranks (pp left auto) blamed parallel.pp, at no position.
BOOST_AUTO_TEST_CASE(fixed_layout_blames_the_degree_that_does_not_divide) {
  TrainSpec train;
  train.global_batch.value = 48;
  ParallelSpec tp_only;
  tp_only.tp = {3, testing::config_pos(12, "parallel.tp")};
  auto by_tp = fixed_layout(tp_only, train, 8);
  BOOST_REQUIRE(!by_tp.ok());
  BOOST_TEST(by_tp.error().message().find("lab.toml:12") != std::string::npos, by_tp.error().message());
  BOOST_TEST(by_tp.error().message().find("parallel.tp") != std::string::npos, by_tp.error().message());
  BOOST_TEST(by_tp.error().message().find("parallel.pp") == std::string::npos, by_tp.error().message());
  ParallelSpec pp_only;
  pp_only.pp = {3, testing::config_pos(11, "parallel.pp")};
  pp_only.tp = {2, testing::config_pos(12, "parallel.tp")};
  auto by_pp = fixed_layout(pp_only, train, 8);
  BOOST_REQUIRE(!by_pp.ok());
  BOOST_TEST(by_pp.error().message().find("lab.toml:11") != std::string::npos, by_pp.error().message());
  BOOST_TEST(by_pp.error().message().find("parallel.tp") == std::string::npos, by_pp.error().message());
  ParallelSpec wrong_dp;
  wrong_dp.tp = {2, testing::config_pos(12, "parallel.tp")};
  wrong_dp.dp = {2, testing::config_pos(13, "parallel.dp")};
  auto by_dp = fixed_layout(wrong_dp, train, 8);
  BOOST_REQUIRE(!by_dp.ok());
  BOOST_TEST(by_dp.error().message().find("lab.toml:13") != std::string::npos, by_dp.error().message());
}

BOOST_AUTO_TEST_CASE(fixed_pp_beyond_the_layers_is_an_input_error) {
  PlanFixture fixture(testing::nodes_of(2, 8, "A100-80GB-SXM", 8, {}), testing::equal_costs(12, 1e12), 16);
  fixture.request.parallel.pp.value = 16;
  auto result = plan_layouts(fixture.request);
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST((result.error().kind() == ErrorKind::kInput));
  BOOST_TEST(result.error().message().find("parallel.pp") != std::string::npos, result.error().message());
}

BOOST_AUTO_TEST_CASE(fixed_degrees_that_do_not_make_the_world_are_an_input_error) {
  PlanFixture fixture(testing::nodes_of(1, 8, "A100-80GB-SXM", 8, {}), testing::equal_costs(12, 1e12), 16);
  fixture.request.parallel.pp.value = 2;
  fixture.request.parallel.tp.value = 2;
  fixture.request.parallel.dp.value = 4;
  auto result = plan_layouts(fixture.request);
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST((result.error().kind() == ErrorKind::kInput));
  BOOST_TEST(result.error().message().find("parallel.dp") != std::string::npos, result.error().message());
}

BOOST_AUTO_TEST_CASE(fixed_values_are_respected) {
  PlanFixture fixture(testing::nodes_of(1, 8, "A100-80GB-SXM", 8, {}), testing::equal_costs(12, 1e12), 32);
  fixture.request.parallel.pp.value = 4;
  fixture.request.schedules = {"gpipe"};
  fixture.request.microbatch_sizes = {2};
  fixture.request.parallel.stage_layers.value = std::vector<int>{2, 4, 4, 2};
  const PlanResult result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  for (const PlannedLayout& planned : result.ranked) {
    BOOST_TEST(planned.layout.pp == 4);
    BOOST_TEST(planned.layout.schedule == "gpipe");
    BOOST_TEST(planned.layout.microbatch_size == 2);
    BOOST_TEST(planned.layout.microbatches == 32 / (2 * planned.layout.dp));
    BOOST_TEST(planned.layout.stage_layers == (std::vector<int>{2, 4, 4, 2}), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(fixed_split_that_does_not_sum_to_the_layers_is_an_input_error) {
  PlanFixture fixture(testing::nodes_of(1, 8, "A100-80GB-SXM", 8, {}), testing::equal_costs(12, 1e12), 32);
  fixture.request.parallel.stage_layers = {std::vector<int>{2, 4}, testing::config_pos(40, "parallel.stage_layers")};
  auto result = plan_layouts(fixture.request);
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST(result.error().message().find("parallel.stage_layers") != std::string::npos, result.error().message());
}

BOOST_AUTO_TEST_CASE(tp_group_across_islands_carries_a_quantified_note) {
  // Two NVLink islands of 4 in one node: tp = 8 must cross PCIe; tp = 4 need not.
  testing::GptShape shape{16, 2048, 16, 50304, 1024, 2};
  PlanFixture fixture(testing::nodes_of(1, 8, "A100-80GB-PCIE", 4, {}), testing::gpt_costs(shape), 16);
  fixture.request.parallel.tp.value = 8;
  PlanResult result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  const auto& notes = result.ranked.front().notes;
  const bool noted = std::any_of(notes.begin(), notes.end(), [](const std::string& note) {
    return note.find("crosses pcie") != std::string::npos && note.find("ms more than inside one NVLink island") !=
                                                                 std::string::npos;
  });
  BOOST_TEST(noted, fmt::format("{}", fmt::join(notes, " | ")));

  fixture.request.parallel.tp.value = 4;
  result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  for (const PlannedLayout& planned : result.ranked) {
    for (int first = 0; first < 8; first += 4) BOOST_TEST(same_island(*fixture.topology, group_devices(planned, first, 4)));
    for (const std::string& note : planned.notes) BOOST_TEST(note.find("crosses") == std::string::npos, note);
  }
}

BOOST_AUTO_TEST_CASE(power_energy_and_throughput_are_consistent) {
  ClusterSpec cluster = testing::nodes_of(2, 4, "A100-80GB-SXM", 4, {NetworkKind::kInfiniband, 200, 3});
  cluster.power_overhead_w_per_node = 500;
  cluster.price_per_kwh = 0.25;
  PlanFixture fixture(cluster, testing::gpt_costs({}), 64);
  fixture.request.train.steps = 1000;
  const PlanResult result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  for (const PlannedLayout& planned : result.ranked) {
    BOOST_TEST(planned.power_w == 8 * 400 + 2 * 500);
    BOOST_TEST(planned.run_energy_kwh == planned.power_w * planned.step_time_s * 1000 / 3.6e6,
               boost::test_tools::tolerance(1e-9));
    BOOST_TEST(planned.run_cost == planned.run_energy_kwh * 0.25, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(planned.tokens_per_s == 64 * 1024 / planned.step_time_s, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(planned.mfu > 0);
    BOOST_TEST(planned.mfu <= fixture.request.plan.compute_efficiency + 1e-9);
    BOOST_TEST(planned.rank_to_device.size() == 8u);
    BOOST_TEST(std::set<int>(planned.rank_to_device.begin(), planned.rank_to_device.end()).size() == 8u);
    BOOST_TEST(planned.peak_memory_gib.size() == 8u);
  }
}

BOOST_AUTO_TEST_CASE(interleaving_tries_virtual_stages_and_rejects_uneven_microbatches) {
  PlanFixture fixture(testing::nodes_of(1, 4, "A100-80GB-SXM", 4, {}), testing::equal_costs(16, 1e13, 1e6), 6);
  fixture.request.parallel.pp.value = 4;
  fixture.request.parallel.tp.value = 1;
  fixture.request.schedules = {"interleaved-1f1b"};
  fixture.request.microbatch_sizes = {1};
  const PlanResult result = fixture.plan();
  BOOST_TEST(result.ranked.empty());  // 6 microbatches are not a multiple of pp = 4
  BOOST_REQUIRE(!result.infeasible.empty());
  BOOST_TEST(result.infeasible.front().reason.find("multiple of pp") != std::string::npos);

  fixture.request.train.global_batch.value = 8;
  const PlanResult interleaved = fixture.plan();
  std::set<int> virtual_stages;
  for (const PlannedLayout& planned : interleaved.ranked) virtual_stages.insert(planned.layout.virtual_stages);
  BOOST_TEST((virtual_stages == std::set<int>{1, 2, 4}));
  BOOST_TEST(interleaved.ranked.front().layout.virtual_stages == 4);  // least bubble, cheap sends
}

// PlanRequest::layer_support: a layout that puts a layer on a device it does not support is
// infeasible, with the layer's own reason (which names its plugin); none left is no layout.
BOOST_AUTO_TEST_CASE(layouts_putting_a_layer_on_an_unsupported_device_are_infeasible) {
  PlanFixture fixture(testing::make_cluster({testing::gpu_node("n", "RTX-3090", 4, 2)}), testing::equal_costs(8, 1e12), 8);
  const std::string why = "acme.fused (plugin /p/acme.so) does not run on RTX-3090 (CUDA) with bf16 activations";
  fixture.request.layer_support = [&](int layer, const Device&) -> Result<std::string> {
    return layer == 3 ? why : std::string();
  };
  const PlanResult result = fixture.plan();
  BOOST_TEST(result.ranked.empty());
  BOOST_TEST(std::any_of(result.infeasible.begin(), result.infeasible.end(),
                         [&](const InfeasibleLayout& entry) { return entry.reason == why; }));
}

BOOST_AUTO_TEST_CASE(a_layer_supported_on_some_devices_only_runs_on_those) {
  ClusterSpec cluster = testing::make_cluster({testing::gpu_node("mixed", "RTX-3090", 2, 2)});
  cluster.nodes[0].gpus.push_back({{"A100-80GB-PCIE", testing::pos_at(4, 8, "cluster.node.gpus.model")}, 2});
  PlanFixture fixture(cluster, testing::equal_costs(12, 1e12), 8);
  fixture.request.parallel.tp.value = 1;
  fixture.request.schedules = {"1f1b"};
  // Layer 0 (on pipeline stage 0) needs an A100.
  fixture.request.layer_support = [](int layer, const Device& device) -> Result<std::string> {
    return layer == 0 && device.model->name == "RTX-3090" ? std::string("needs an A100") : std::string();
  };
  const PlanResult result = fixture.plan();
  int checked = 0;
  for (const PlannedLayout& planned : result.ranked) {
    const int per_stage = planned.layout.tp * planned.layout.dp;
    for (int rank = 0; rank < per_stage; ++rank) {
      BOOST_TEST(fixture.topology->device(planned.rank_to_device[rank]).model->name != "RTX-3090");
    }
    ++checked;
  }
  for (const InfeasibleLayout& entry : result.infeasible) checked += entry.reason == "needs an A100";
  BOOST_TEST(checked > 0);
  // Stage 0 spans all four cards with pp = 1: every such layout includes a 3090.
  for (const PlannedLayout& planned : result.ranked) BOOST_TEST(planned.layout.pp > 1);
}

}  // namespace
}  // namespace llmrt
