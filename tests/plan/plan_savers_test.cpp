// Memory savers in the planner: what each recompute mode holds, ZeRO-1's sharded state, the
// extra FLOPs and the dp exchange they cost, and the choice ("auto") on cards too small to hold
// every activation. Expectations come from the formulas in docs/planner.md, computed here from
// the inputs, or from a second plan with the saver fixed.
#define BOOST_TEST_MODULE plan_savers
#include <algorithm>

#include "plan/plan_fixtures.h"
#include "plan/planner_stages.h"

namespace llmrt {
namespace {

using testing::PlanFixture;

LayerCost recomputable(double activations, double selective, double input) {
  LayerCost cost = testing::layer_cost(1e9, 1e9, 1e9, activations, 1e6, input);
  cost.input_bytes = input;
  cost.selective_activation_bytes = selective;
  cost.selective_recompute_flops = 1e8;
  cost.supports_full = cost.supports_selective = true;
  return cost;
}

BOOST_AUTO_TEST_CASE(each_mode_holds_what_the_executor_keeps) {
  const LayerCost cost = recomputable(1000, 300, 50);
  BOOST_TEST(layer_hold(cost, Recompute::kNone).held_bytes == 1050);
  BOOST_TEST(layer_hold(cost, Recompute::kSelective).held_bytes == 350);
  BOOST_TEST(layer_hold(cost, Recompute::kFull).held_bytes == 50);
  BOOST_TEST(layer_hold(cost, Recompute::kFull).transient_bytes == 1000);  // the rerun's saved state
  BOOST_TEST(layer_hold(cost, Recompute::kNone).transient_bytes == 0);
  LayerCost no_selective = cost;
  no_selective.supports_selective = false;
  BOOST_TEST((effective_recompute(no_selective, Recompute::kSelective) == Recompute::kNone));
  BOOST_TEST(layer_hold(no_selective, Recompute::kSelective).held_bytes == 1050);
  LayerCost own = cost;  // model.layer[].recompute overrides the layout's mode
  own.recompute = Recompute::kFull;
  BOOST_TEST((effective_recompute(own, Recompute::kNone) == Recompute::kFull));
  LayerCost cannot = cost;
  cannot.supports_full = false;
  cannot.recompute = Recompute::kFull;
  BOOST_TEST((effective_recompute(cannot, Recompute::kSelective) == Recompute::kNone));
}

// The executor (exec/zero_shards.h) shards the optimizer state and, under bf16/fp16, the fp32
// master weights (the 16-bit copy stays whole), and adds a buffer for its reduced gradient
// pieces (1/dp of the gradients).
BOOST_AUTO_TEST_CASE(zero_one_shards_optimizer_state_and_master_weights_and_adds_a_piece_buffer) {
  TrainSpec train;
  train.precision = Precision::kBf16;
  train.optimizer.component.value = "adamw";
  const double parameter_bytes = 2e9;  // 1e9 bf16 parameters
  const StateBytes whole = state_bytes(parameter_bytes, train);
  const StateBytes sharded = state_bytes(parameter_bytes, train, 4);
  BOOST_TEST(sharded.parameters == parameter_bytes);
  BOOST_TEST(whole.gradients == 4e9);
  BOOST_TEST(sharded.gradients == 4e9 + 4e9 / 4);
  BOOST_TEST(sharded.optimizer == 8e9 / 4);
  BOOST_TEST(whole.master == 4e9);
  BOOST_TEST(sharded.master == 4e9 / 4);
  train.precision = Precision::kFp32;  // the layers read the master: no copy to shard
  BOOST_TEST(state_bytes(4e9, train, 4).master == 0);
}

BOOST_AUTO_TEST_CASE(full_recompute_adds_one_rerun_to_the_peak) {
  // One rank, two microbatches forward then two backward: 2 × held, then one rerun on top.
  std::vector<llmrt_action> actions(4);
  actions[0].kind = actions[1].kind = LLMRT_ACTION_FORWARD;
  actions[2].kind = actions[3].kind = LLMRT_ACTION_BACKWARD_INPUT;
  actions[1].microbatch = actions[3].microbatch = 1;
  BOOST_TEST(peak_activation_bytes(actions, {10}) == 20);
  BOOST_TEST(peak_activation_bytes(actions, {10}, {7}) == 27);
  // With a separate W (zb-h1), every rerun layer's state stays from its B to the W: two rerun
  // layers of 7 each (split 14) per microbatch in flight, on top of the held inputs.
  const std::vector<llmrt_action> split_actions = {
      {LLMRT_ACTION_FORWARD, 0, 0}, {LLMRT_ACTION_FORWARD, 1, 0}, {LLMRT_ACTION_BACKWARD_INPUT, 0, 0},
      {LLMRT_ACTION_BACKWARD_INPUT, 1, 0}, {LLMRT_ACTION_BACKWARD_WEIGHT, 0, 0}, {LLMRT_ACTION_BACKWARD_WEIGHT, 1, 0}};
  BOOST_TEST(peak_activation_bytes(split_actions, {10}, {7}, {14}) == 10 + 10 + 14 + 14);
  BOOST_TEST(peak_activation_bytes(split_actions, {10}, {7}) == 20 + 7);  // no split given: one at a time
}

// One rank on one A100, the layout's split set: the step costs of a recompute mode or zero stage.
struct OneStage {
  PlanFixture fixture{testing::nodes_of(1, 4, "A100-80GB-SXM", 4, {}), testing::equal_costs(1, 1), 8};
  std::vector<LayerCost> costs = std::vector<LayerCost>(4, recomputable(1e6, 3e5, 1e4));
  StepCosts step(int dp, Recompute mode, int zero) {
    Layout layout;
    layout.dp = dp;
    layout.microbatches = 8 / dp;
    layout.stage_layers = {4};
    layout.recompute = mode;
    layout.zero = zero;
    const PlacedDegrees placed = place_and_describe(*fixture.topology, {1, 1, dp}, Precision::kBf16, 0.5, 0.8);
    std::vector<std::vector<llmrt_action>> actions(1);
    const StageMemory memory = estimate_stage_memory(layout, costs, actions, fixture.request.train, 0);
    return estimate_step_costs(layout, costs, placed, memory, fixture.request.train);
  }
};

BOOST_AUTO_TEST_CASE(recompute_adds_forward_flops_to_the_backward) {
  OneStage one;
  const PlacedDegrees placed = place_and_describe(*one.fixture.topology, {1, 1, 4}, Precision::kBf16, 0.5, 0.8);
  const double flops_per_s = placed.stages[0].achieved_flops;
  const StepCosts none = one.step(4, Recompute::kNone, 0);
  const StepCosts full = one.step(4, Recompute::kFull, 0);
  const StepCosts selective = one.step(4, Recompute::kSelective, 0);
  BOOST_TEST(full.pass_s[0][0][0] == none.pass_s[0][0][0]);
  BOOST_TEST(full.pass_s[0][0][1] - none.pass_s[0][0][1] == 4 * 1e9 / flops_per_s, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(selective.pass_s[0][0][1] - none.pass_s[0][0][1] == 4 * 1e8 / flops_per_s,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(full.model_flops_per_step == none.model_flops_per_step);
  BOOST_TEST(full.hardware_flops_per_step - none.hardware_flops_per_step == 8 * 4 * 1e9,
             boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(zero_one_reduce_scatters_and_all_gathers_half_an_all_reduce_each) {
  OneStage one;
  one.costs.assign(4, recomputable(1e6, 3e5, 1e4));
  for (LayerCost& cost : one.costs) cost.parameter_bytes = 2e9;  // big enough to outlast a backward
  const StepCosts zero0 = one.step(4, Recompute::kNone, 0);
  const StepCosts zero1 = one.step(4, Recompute::kNone, 1);
  // fp32 gradients reduce-scattered (half an all-reduce on the link), the bf16 weights (the
  // fixture's precision; the fp32 master is sharded) all-gathered: half those bytes again, so a
  // quarter of the all-reduce but for the ring's latency terms ((d−1)·α, microseconds here).
  // The reduce-scatter is exposed as the all-reduce is (the executor overlaps them alike); of
  // the all-gather, what the next step's first forward does not hide: layer i+1 waits for
  // buckets 1..i+1 (g each) after i layers' forwards (f each), so max(g, G − 3f).
  BOOST_TEST(zero1.dp_reduce_scatter_s == zero0.dp_allreduce_s / 2, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(zero1.dp_all_gather_s == zero0.dp_allreduce_s / 4, boost::test_tools::tolerance(1e-3));
  BOOST_TEST(zero1.dp_all_gather_s > zero0.dp_allreduce_s / 4);  // the latency terms are not halved
  const double gather = zero1.dp_all_gather_s, f = zero1.pass_s[0][0][0] / 4;
  double exposed = 0;
  for (int i = 0; i < 4; ++i) exposed = std::max(exposed, (i + 1) * gather / 4 - i * f);
  BOOST_TEST(exposed < gather);  // some of it hides
  BOOST_TEST(zero1.dp_allreduce_s == zero1.dp_reduce_scatter_s + exposed, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(zero1.optimizer_s < zero0.optimizer_s);  // the optimizer walks a quarter of the state
}

// 24 layers of d = 2048 at seq 4096 on two 24 GiB RTX 3090s: the attention scores alone are
// 1 GiB per layer and microbatch, so no layout holds every activation.
testing::GptShape long_sequence_gpt() {
  testing::GptShape shape{24, 2048, 16, 50304, 4096, 2};
  shape.recompute = true;
  return shape;
}

PlanFixture rtx3090_pair(const testing::GptShape& shape) {
  PlanFixture fixture(testing::nodes_of(1, 2, "RTX-3090", 2, {}), testing::gpt_costs(shape), 8);
  fixture.request.seq_len = static_cast<std::int64_t>(shape.seq_len);
  return fixture;
}

BOOST_AUTO_TEST_CASE(a_model_that_fits_only_with_recompute_is_planned_with_it) {
  PlanFixture without = rtx3090_pair(long_sequence_gpt());
  without.request.train.recompute.value = Recompute::kNone;
  without.request.parallel.zero.value = 0;
  BOOST_TEST(without.plan().ranked.empty());  // fixed none / 0: nothing fits
  const PlanFixture fixture = rtx3090_pair(long_sequence_gpt());
  const PlanResult result = fixture.plan();
  BOOST_REQUIRE(!result.ranked.empty());
  const PlannedLayout& best = result.ranked.front();
  BOOST_TEST_MESSAGE(best.saver_reason);
  BOOST_TEST((best.layout.recompute != Recompute::kNone));
  BOOST_TEST(best.saver_reason.find("fits only with") != std::string::npos, best.saver_reason);
  BOOST_TEST(best.saver_reason.find("recompute") != std::string::npos, best.saver_reason);
  for (const PlannedLayout& p : result.ranked) {
    BOOST_TEST(*std::max_element(p.peak_memory_gib.begin(), p.peak_memory_gib.end()) <= 24.0);
  }
  // Selective costs less than full: where both fit, selective is chosen.
  PlanFixture full = rtx3090_pair(long_sequence_gpt());
  full.request.train.recompute.value = Recompute::kFull;
  for (const PlannedLayout& p : full.plan().ranked) {
    BOOST_TEST((p.layout.recompute == Recompute::kFull));  // a fixed mode is honoured
    const auto same = std::find_if(result.ranked.begin(), result.ranked.end(), [&](const PlannedLayout& q) {
      return q.layout.pp == p.layout.pp && q.layout.tp == p.layout.tp && q.layout.schedule == p.layout.schedule &&
             q.layout.microbatch_size == p.layout.microbatch_size && q.layout.virtual_stages == p.layout.virtual_stages;
    });
    if (same != result.ranked.end()) BOOST_TEST(same->step_time_s <= p.step_time_s * (1 + 1e-9));
  }
}

BOOST_AUTO_TEST_CASE(a_model_that_fits_without_is_planned_without) {
  testing::GptShape shape = long_sequence_gpt();
  shape.seq_len = 512;
  const PlanResult result = rtx3090_pair(shape).plan();
  BOOST_REQUIRE(!result.ranked.empty());
  BOOST_TEST((result.ranked.front().layout.recompute == Recompute::kNone));
  // Other layouts may need it (a larger microbatch): then, and only then, they say so.
  for (const PlannedLayout& p : result.ranked) {
    if (p.layout.recompute != Recompute::kNone) {
      BOOST_TEST(p.saver_reason.find("fits only with") != std::string::npos, p.saver_reason);
    }
  }
}

BOOST_AUTO_TEST_CASE(auto_savers_for_fixed_degrees_pick_the_cheapest_that_fits) {
  PlanFixture fixture = rtx3090_pair(long_sequence_gpt());
  Layout layout;
  layout.pp = 2;
  layout.microbatches = 8;
  auto chosen = choose_memory_savers(fixture.request, layout);
  BOOST_REQUIRE_MESSAGE(chosen.ok(), testing::error_text(chosen));
  BOOST_TEST((chosen->recompute == Recompute::kSelective));
  testing::GptShape small = long_sequence_gpt();
  small.seq_len = 512;
  PlanFixture fits = rtx3090_pair(small);
  auto as_is = choose_memory_savers(fits.request, layout);
  BOOST_REQUIRE(as_is.ok());
  BOOST_TEST((as_is->recompute == Recompute::kNone));
  BOOST_TEST(as_is->zero == 0);
  // dp = 2: this model's replicated AdamW state (18 bytes per parameter) does not fit a 3090, its
  // 1/dp slice does; a smaller one fits as is and gets zero 0, though zero 1 may rank faster.
  Layout data_parallel;
  data_parallel.dp = 2;
  data_parallel.microbatches = 4;
  auto sharded = choose_memory_savers(fits.request, data_parallel);
  BOOST_REQUIRE(sharded.ok());
  BOOST_TEST(sharded->zero == 1);
  BOOST_TEST((sharded->recompute == Recompute::kNone));
  testing::GptShape tiny = small;
  tiny.blocks = 12;
  tiny.d_model = 1024;
  PlanFixture roomy = rtx3090_pair(tiny);
  auto replicated = choose_memory_savers(roomy.request, data_parallel);
  BOOST_REQUIRE(replicated.ok());
  BOOST_TEST(replicated->zero == 0);
  BOOST_TEST((replicated->recompute == Recompute::kNone));
  // Fixed values are kept as given.
  roomy.request.parallel.zero.value = 1;
  roomy.request.train.recompute.value = Recompute::kFull;
  auto fixed = choose_memory_savers(roomy.request, data_parallel);
  BOOST_REQUIRE(fixed.ok());
  BOOST_TEST(fixed->zero == 1);
  BOOST_TEST((fixed->recompute == Recompute::kFull));
}

}  // namespace
}  // namespace llmrt
