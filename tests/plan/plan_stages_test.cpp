// The planner's stages one by one: enumeration, placement, partition by speed, the memory
// model's in-flight counts and state bytes.
#define BOOST_TEST_MODULE plan_stages
#include <numeric>
#include <tuple>

#include "plan/plan_fixtures.h"
#include "plan/planner_stages.h"

namespace llmrt {
namespace {

using testing::PlanFixture;

BOOST_AUTO_TEST_CASE(enumerates_every_factorisation_of_the_world) {
  PlanFixture fixture(testing::nodes_of(1, 8, "A100-80GB-SXM", 8, {}), testing::equal_costs(12, 1e12), 8);
  auto all = enumerate_degrees(fixture.request, 12);
  BOOST_REQUIRE(all.ok());
  BOOST_TEST(all->size() == 10u);  // ordered triples with product 2^3: C(5, 2)
  for (const Degrees& d : *all) BOOST_TEST(d.pp * d.tp * d.dp == 8);
  auto few_layers = enumerate_degrees(fixture.request, 3);
  BOOST_REQUIRE(few_layers.ok());
  for (const Degrees& d : *few_layers) BOOST_TEST(d.pp <= 3);
  fixture.request.parallel.pp.value = 2;
  auto fixed = enumerate_degrees(fixture.request, 12);
  BOOST_REQUIRE(fixed.ok());
  BOOST_TEST(fixed->size() == 3u);  // tp × dp = 4: (1, 4), (2, 2), (4, 1)
}

BOOST_AUTO_TEST_CASE(microbatch_counts_must_be_whole) {
  PlanFixture fixture(testing::nodes_of(1, 8, "A100-80GB-SXM", 8, {}), testing::equal_costs(12, 1e12), 24);
  std::vector<InfeasibleLayout> infeasible;
  const auto layouts = enumerate_schedules(fixture.request, {2, 1, 4}, 4, 12, infeasible);
  BOOST_TEST(layouts.empty());  // 24 / (4 × 4) is not whole
  BOOST_REQUIRE_EQUAL(infeasible.size(), 1u);
  BOOST_TEST(infeasible[0].reason.find("global_batch = 24") != std::string::npos);
  infeasible.clear();
  const auto ok = enumerate_schedules(fixture.request, {2, 1, 4}, 2, 12, infeasible);
  BOOST_REQUIRE(!ok.empty());
  for (const Layout& layout : ok) BOOST_TEST(layout.microbatches == 3);
}

BOOST_AUTO_TEST_CASE(placement_packs_tp_groups_into_islands) {
  // Islands of 2 in nodes of 4: tp = 2 groups stay on NVLink; tp = 4 stays in the node.
  PlanFixture fixture(testing::nodes_of(2, 4, "A100-80GB-PCIE", 2, {}), testing::equal_costs(12, 1e12), 8);
  const Topology& topology = *fixture.topology;
  const std::vector<int> pairs = place_ranks(topology, {1, 2, 4});
  for (int g = 0; g < 8; g += 2) BOOST_TEST(topology.device(pairs[g]).island == topology.device(pairs[g + 1]).island);
  const std::vector<int> quads = place_ranks(topology, {2, 4, 1});
  for (int g = 0; g < 8; g += 4) {
    for (int i = 1; i < 4; ++i) BOOST_TEST(topology.device(quads[g + i]).node == topology.device(quads[g]).node);
  }
}

BOOST_AUTO_TEST_CASE(pipeline_neighbours_across_nodes_share_the_network) {
  // pp = 2 over 2 nodes of 4: each boundary pair leaves the node; 4 pairs share its NIC.
  PlanFixture fixture(testing::nodes_of(2, 4, "A100-80GB-SXM", 4, {NetworkKind::kEthernet, 100, 10}),
                      testing::equal_costs(12, 1e12), 8);
  const PlacedDegrees placed = place_and_describe(*fixture.topology, {2, 1, 4}, Precision::kBf16, 0.5, 0.8);
  const LinkCost& link = placed.p2p.at({0, 1});
  BOOST_TEST((link.link_class == LinkClass::kNetwork));
  BOOST_TEST(link.sharers == 4);
  BOOST_TEST(link.s_per_byte == 4 / (100e9 / 8 * 0.8), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(link.latency_s == 10e-6, boost::test_tools::tolerance(1e-12));
  BOOST_TEST((placed.stages[0].dp_ring.link_class == LinkClass::kNvlink));  // dp inside the node
}

// The smallest largest-stage work over every contiguous split of `work` into k stages.
double best_largest_stage(const std::vector<double>& work, std::size_t first, int k) {
  if (k == 1) return std::accumulate(work.begin() + static_cast<std::ptrdiff_t>(first), work.end(), 0.0);
  double best = 1e300, head = 0;
  for (std::size_t end = first + 1; end + static_cast<std::size_t>(k - 1) <= work.size(); ++end) {
    head += work[end - 1];
    best = std::min(best, std::max(head, best_largest_stage(work, end, k - 1)));
  }
  return best;
}

BOOST_AUTO_TEST_CASE(partition_with_equal_speeds_is_the_best_even_split) {
  const std::vector<double> work{1, 5, 5, 5, 5, 5, 5, 5, 5, 9};
  ParallelSpec parallel;
  for (int k : {1, 2, 3, 4, 5}) {
    auto even = partition_layers(parallel, work, {}, k, 1);
    BOOST_REQUIRE(even.ok());
    // Equal speeds are speeds of 1: any common speed gives the same split.
    const auto by_speed = partition_by_speed(work, std::vector<double>(static_cast<std::size_t>(k), 2.0), k, 1);
    BOOST_TEST(*even == by_speed, boost::test_tools::per_element());
    double worst = 0;
    for (std::size_t s = 0, l = 0; s < even->size(); ++s) {
      double sum = 0;
      for (int i = 0; i < (*even)[s]; ++i) sum += work[l++];
      worst = std::max(worst, sum);
    }
    BOOST_TEST(worst == best_largest_stage(work, 0, k));
  }
}

BOOST_AUTO_TEST_CASE(partition_takes_the_given_split_and_refuses_a_wrong_one) {
  ParallelSpec parallel;
  const std::vector<double> work(6, 1.0);
  auto too_many = partition_layers(parallel, work, {}, 4, 2);
  BOOST_REQUIRE(!too_many.ok());
  BOOST_TEST(too_many.error().message().find("8 virtual stages") != std::string::npos, too_many.error().message());
  parallel.stage_layers = {std::vector<int>{1, 5}, testing::config_pos(12, "parallel.stage_layers")};
  auto given = partition_layers(parallel, work, {3, 1}, 2, 1);
  BOOST_REQUIRE(given.ok());
  BOOST_TEST(*given == (std::vector<int>{1, 5}), boost::test_tools::per_element());
  auto mismatch = partition_layers(parallel, work, {}, 3, 1);
  BOOST_REQUIRE(!mismatch.ok());
  BOOST_TEST(mismatch.error().message().find("parallel.stage_layers") != std::string::npos,
             mismatch.error().message());
}

BOOST_AUTO_TEST_CASE(microbatch_arithmetic_names_the_key) {
  TrainSpec train;
  train.global_batch.value = 24;
  BOOST_TEST(*microbatches_per_replica(train, 2, 3) == 4);
  BOOST_TEST(*microbatches_per_replica(train, 24, 1) == 1);
  auto uneven = microbatches_per_replica(train, 4, 4);
  BOOST_REQUIRE(!uneven.ok());
  BOOST_TEST(uneven.error().message() ==
             "train.global_batch: global_batch = 24 is not a multiple of microbatch_size × dp = 4 × 4");
  train.global_batch.pos = testing::config_pos(7, "train.global_batch");
  auto single = microbatches_per_replica(train, 5, 1);
  BOOST_REQUIRE(!single.ok());
  BOOST_TEST(single.error().message().find(":7:") != std::string::npos, single.error().message());
  BOOST_TEST(single.error().message().find("is not a multiple of microbatch_size = 5") != std::string::npos);
  BOOST_TEST(!microbatches_per_replica(train, 48, 1).ok());  // fewer than one microbatch
}

BOOST_AUTO_TEST_CASE(partition_follows_speed) {
  const std::vector<double> work(8, 1.0);
  BOOST_TEST(partition_by_speed(work, {3, 1}, 2, 1) == (std::vector<int>{6, 2}), boost::test_tools::per_element());
  BOOST_TEST(partition_by_speed(work, {1, 1}, 2, 1) == (std::vector<int>{4, 4}), boost::test_tools::per_element());
  // Virtual stage s runs on rank s % pp: stages 0 and 2 on the fast rank.
  BOOST_TEST(partition_by_speed(work, {3, 1}, 2, 2) == (std::vector<int>{3, 1, 3, 1}),
             boost::test_tools::per_element());
  // Every stage gets a layer, even when one rank is far faster.
  const auto lopsided = partition_by_speed(work, {1000, 1}, 2, 1);
  BOOST_TEST(lopsided == (std::vector<int>{7, 1}), boost::test_tools::per_element());
  // Odd sizes: 19 layers on 5 equal stages, none larger than ceil(19 / 5).
  const auto odd = partition_by_speed(std::vector<double>(19, 1.0), std::vector<double>(5, 1.0), 5, 1);
  BOOST_TEST(std::accumulate(odd.begin(), odd.end(), 0) == 19);
  for (int count : odd) BOOST_TEST((count >= 3 && count <= 4));
}

BOOST_AUTO_TEST_CASE(in_flight_activations_follow_the_schedule) {
  for (int p : {2, 4, 8}) {
    for (int m : {1, 3, 8, 13}) {
      const ScheduleShape shape{p, m, 1};
      for (int r = 0; r < p; ++r) {
        BOOST_TEST(peak_activation_bytes(one_f_one_b_actions(shape, r), {1.0}) == std::min(p - r, m));
        BOOST_TEST(peak_activation_bytes(gpipe_actions(shape, r), {1.0}) == m);
        const double zb = peak_activation_bytes(zb_h1_actions(shape, r), {1.0});
        BOOST_TEST(zb >= std::min(p - r, m));
        BOOST_TEST(zb <= std::min(p, m));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(state_bytes_count_gradients_optimizer_and_master_copy) {
  TrainSpec train;
  train.optimizer.component.value = "adamw";
  train.precision = Precision::kFp32;
  BOOST_TEST(state_bytes(400, train).total() == 1600);  // 100 params × (4 + 4 + 8)
  train.precision = Precision::kBf16;
  BOOST_TEST(state_bytes(200, train).total() == 1800);  // 100 params × (2 + 4 + 8 + 4)
  train.optimizer.component.value = "sgd";
  BOOST_TEST(state_bytes(200, train).optimizer == 400);
}

BOOST_AUTO_TEST_CASE(extrapolated_step_matches_full_simulation) {
  // Unequal stages and real sends, m = 200 on p = 4: the two-sample extrapolation must agree
  // with simulating all 200 microbatches.
  PlanFixture fixture(testing::nodes_of(2, 2, "A100-80GB-SXM", 2, {NetworkKind::kEthernet, 10, 20}),
                      testing::equal_costs(16, 2e12, 3e7), 200);
  auto costs = fixture.request.layer_costs(1, 1);
  BOOST_REQUIRE(costs.ok());
  const PlacedDegrees placed = place_and_describe(*fixture.topology, {4, 1, 1}, Precision::kBf16, 0.5, 0.8);
  for (const auto& [schedule, v] : std::vector<std::pair<std::string, int>>{
           {"1f1b", 1}, {"gpipe", 1}, {"zb-h1", 1}, {"interleaved-1f1b", 2}}) {
    Layout layout;
    layout.pp = 4;
    layout.microbatches = 200;
    layout.schedule = schedule;
    layout.virtual_stages = v;
    layout.stage_layers = v == 1 ? std::vector<int>{3, 5, 4, 4} : std::vector<int>{1, 2, 3, 2, 2, 2, 2, 2};
    auto samples = sample_schedule(fixture.request, layout, *costs);
    BOOST_REQUIRE(samples.ok());
    BOOST_TEST(samples->size() == 2u);
    auto verified = fixture.request.schedule_source(schedule, ScheduleShape{4, 200, v});
    BOOST_REQUIRE(verified.ok());
    const std::vector<std::vector<llmrt_action>>& full = (*verified)->actions;
    const StageMemory exact_memory = estimate_stage_memory(layout, *costs, full, fixture.request.train, 1.0);
    const StageMemory memory = memory_at(*samples, 200, 1.0);
    for (int r = 0; r < 4; ++r) BOOST_TEST(memory.gib[r] == exact_memory.gib[r], boost::test_tools::tolerance(1e-9));
    const StepCosts step = estimate_step_costs(layout, *costs, placed, memory, fixture.request.train);
    auto timing = time_step(layout, *samples, step, placed);
    auto exact = simulate_step(layout, full, step, placed);
    BOOST_REQUIRE(timing.ok());
    BOOST_REQUIRE(exact.ok());
    BOOST_TEST_CONTEXT(schedule) {
      BOOST_TEST(timing->makespan_s == exact->makespan_s, boost::test_tools::tolerance(1e-6));
      BOOST_TEST(timing->bubble_fraction == exact->bubble_fraction, boost::test_tools::tolerance(1e-6));
    }
  }
}

// The layers' device scratch (LayerCost::workspace_bytes): one workspace per stream, so a rank
// holds the largest of its layers' (every virtual stage's: they share the rank's stream), once,
// on top of state and activations; memory_at keeps it when it extrapolates.
BOOST_AUTO_TEST_CASE(layer_scratch_is_each_ranks_largest_once) {
  PlanFixture fixture(testing::nodes_of(1, 2, "A100-80GB-SXM", 2, {NetworkKind::kEthernet, 10, 20}),
                      testing::equal_costs(8, 2e12, 3e7), 64);
  auto costs = fixture.request.layer_costs(1, 1);
  BOOST_REQUIRE(costs.ok());
  std::vector<LayerCost> plain = *costs, scratched = *costs;
  const std::vector<double> workspace = {1e8, 0, 0, 5e8, 0, 2e8, 0, 3e8};  // [layer]
  for (std::size_t l = 0; l < workspace.size(); ++l) scratched[l].workspace_bytes = workspace[l];
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  // 1f1b over {4, 4}: rank 0 has layers 0-3, rank 1 layers 4-7. Interleaved over {2, 2, 2, 2}:
  // rank 0 runs virtual stages 0 and 2 (layers 0, 1, 4, 5), rank 1 stages 1 and 3 (2, 3, 6, 7).
  for (const auto& [schedule, v, largest] : std::vector<std::tuple<std::string, int, std::vector<double>>>{
           {"1f1b", 1, {5e8, 3e8}}, {"interleaved-1f1b", 2, {2e8, 5e8}}}) {
    Layout layout;
    layout.pp = 2;
    layout.microbatches = 64;
    layout.schedule = schedule;
    layout.virtual_stages = v;
    layout.stage_layers = v == 1 ? std::vector<int>{4, 4} : std::vector<int>{2, 2, 2, 2};
    auto verified = fixture.request.schedule_source(schedule, ScheduleShape{2, 64, v});
    BOOST_REQUIRE(verified.ok());
    const auto& actions = (*verified)->actions;
    const StageMemory without = estimate_stage_memory(layout, plain, actions, fixture.request.train, 1.0);
    const StageMemory with = estimate_stage_memory(layout, scratched, actions, fixture.request.train, 1.0);
    auto samples = sample_schedule(fixture.request, layout, scratched);
    BOOST_REQUIRE(samples.ok());
    BOOST_REQUIRE(samples->size() == 2u);  // extrapolated from two counts
    const StageMemory extrapolated = memory_at(*samples, 64, 1.0);
    BOOST_TEST_CONTEXT(schedule) {
      for (std::size_t r = 0; r < 2; ++r) {
        BOOST_TEST(without.scratch_bytes[r] == 0.0);
        BOOST_TEST(with.scratch_bytes[r] == largest[r]);
        BOOST_TEST(with.activation_bytes[r] == without.activation_bytes[r]);
        BOOST_TEST(with.gib[r] - without.gib[r] == largest[r] / kGiB, boost::test_tools::tolerance(1e-9));
        BOOST_TEST(extrapolated.scratch_bytes[r] == largest[r]);
        BOOST_TEST(extrapolated.gib[r] == with.gib[r], boost::test_tools::tolerance(1e-9));
      }
    }
  }
}

}  // namespace
}  // namespace llmrt
