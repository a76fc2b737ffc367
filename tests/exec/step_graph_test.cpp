// train.cuda_graph's pieces that need no GPU: when a step is captured, replayed or run eagerly
// (the free-count rule), the capture region's audit on the CPU device, and StepGraph's staging
// and its one capture-failure message.
#define BOOST_TEST_MODULE exec_step_graph
#include <boost/test/unit_test.hpp>

#include <string>

#include "device/capture_region.h"
#include "device/device.h"
#include "exec/step_graph.h"

using namespace llmrt;

namespace {
bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }
}  // namespace

BOOST_AUTO_TEST_CASE(warm_up_then_capture_then_replay) {
  GraphSchedule schedule;
  BOOST_TEST((schedule.next(false, 0) == StepMode::kEager));    // the warm-up
  BOOST_TEST((schedule.next(false, 3) == StepMode::kCapture));  // frees during the warm-up do not matter
  schedule.captured(3);
  BOOST_TEST((schedule.next(false, 3) == StepMode::kReplay));
  BOOST_TEST((schedule.next(false, 3) == StepMode::kReplay));
  BOOST_TEST(schedule.drops() == 0);
}

// A free since the capture: the graph may point at freed memory. Dropped: that step eager, the
// next re-captured, replays after that.
BOOST_AUTO_TEST_CASE(a_free_since_the_capture_drops_the_graph) {
  GraphSchedule schedule;
  schedule.next(false, 0);
  schedule.next(false, 0);
  schedule.captured(0);
  BOOST_TEST((schedule.next(false, 1) == StepMode::kEager));
  BOOST_TEST(!schedule.held());
  BOOST_TEST(schedule.drops() == 1);
  BOOST_TEST((schedule.next(false, 1) == StepMode::kCapture));
  schedule.captured(2);  // the count read when that capture ended
  BOOST_TEST((schedule.next(false, 2) == StepMode::kReplay));
}

// The trace step runs eagerly and drops the graph (a plugin's own scratch may move outside it,
// unseen by the free count); the next step re-captures without another warm-up.
BOOST_AUTO_TEST_CASE(an_eager_only_step_drops_the_graph_and_the_next_step_recaptures) {
  GraphSchedule schedule;
  BOOST_TEST((schedule.next(true, 0) == StepMode::kEager));  // also the warm-up
  BOOST_TEST((schedule.next(false, 0) == StepMode::kCapture));
  schedule.captured(0);
  BOOST_TEST((schedule.next(false, 0) == StepMode::kReplay));
  BOOST_TEST((schedule.next(true, 0) == StepMode::kEager));
  BOOST_TEST(!schedule.held());
  BOOST_TEST(schedule.drops() == 1);
  BOOST_TEST((schedule.next(false, 0) == StepMode::kCapture));
  schedule.captured(0);
  BOOST_TEST((schedule.next(false, 0) == StepMode::kReplay));
}

// Validation ran the layers outside the graph: forget() drops it, the next step re-captures.
BOOST_AUTO_TEST_CASE(forget_drops_the_graph_and_the_next_step_recaptures) {
  GraphSchedule schedule;
  BOOST_TEST((schedule.next(false, 0) == StepMode::kEager));
  BOOST_TEST((schedule.next(false, 0) == StepMode::kCapture));
  schedule.captured(0);
  schedule.forget();
  BOOST_TEST(!schedule.held());
  BOOST_TEST(schedule.drops() == 1);
  BOOST_TEST((schedule.next(false, 0) == StepMode::kCapture));
  schedule.forget();  // nothing held: nothing to count
  BOOST_TEST(schedule.drops() == 1);
}

BOOST_AUTO_TEST_CASE(the_cpu_device_refuses_in_the_region_what_a_graph_cannot_hold) {
  ComputeDevice& cpu = cpu_device();
  auto outside = cpu.allocate(64);
  BOOST_REQUIRE(outside.ok());
  const std::uint64_t frees = cpu.frees();
  {
    CaptureRegion region;
    auto inside = cpu.allocate(64);
    BOOST_REQUIRE(!inside.ok());
    BOOST_TEST(has(inside.error().message(), "allocate (64 bytes) inside the step's CUDA graph capture region"));
    const Status waited = cpu.synchronize(nullptr);
    BOOST_REQUIRE(!waited.ok());
    BOOST_TEST(has(waited.error().message(), "synchronize"));
    const float values[2] = {1, 2};
    BOOST_TEST(!cpu.sum_of_squares(values, 2, nullptr).ok());
    BOOST_TEST(!region.noted().has_value());
    cpu.free(*outside);
    BOOST_REQUIRE(region.noted().has_value());
    BOOST_TEST(has(*region.noted(), "free inside"));
  }
  BOOST_TEST(cpu.frees() == frees + 1);
  BOOST_TEST(!CaptureRegion::active());
  auto after = cpu.allocate(64);
  BOOST_REQUIRE(after.ok());
  cpu.free(*after);
  BOOST_TEST(cpu.synchronize(nullptr).ok());
}

BOOST_AUTO_TEST_CASE(staging_holds_a_token_and_target_pair_per_microbatch) {
  auto graph = StepGraph::create(cpu_device(), nullptr, 3, 8);
  BOOST_REQUIRE(graph.ok());
  StepGraph& step = **graph;
  for (int mb = 0; mb < 3; ++mb) {
    BOOST_TEST(step.tokens(mb).size() == 8u);
    BOOST_TEST(step.targets(mb).size() == 8u);
    BOOST_TEST((step.targets(mb).data() == step.tokens(mb).data() + 8));
    if (mb > 0) BOOST_TEST((step.tokens(mb).data() == step.targets(mb - 1).data() + 8));
  }
}

// The CPU captures nothing: a clean region ends with no graph; a refused call inside, or a free,
// ends it with the one message naming the step and where.
BOOST_AUTO_TEST_CASE(a_capture_ends_with_the_one_message) {
  auto made = StepGraph::create(cpu_device(), nullptr, 1, 4);
  BOOST_REQUIRE(made.ok());
  StepGraph& step = **made;
  BOOST_TEST((step.begin_step(false) == StepMode::kEager));
  BOOST_TEST((step.begin_step(false) == StepMode::kCapture));
  BOOST_REQUIRE(step.begin_capture().ok());
  BOOST_TEST(CaptureRegion::active());
  BOOST_REQUIRE(step.end_capture(2, Status::success(), "forward", {0}).ok());
  BOOST_TEST(!CaptureRegion::active());
  BOOST_TEST(!step.has_graph());
  BOOST_TEST(step.replayed_microbatches() == std::vector<int>{0});

  BOOST_REQUIRE(step.begin_capture().ok());
  auto refused = cpu_device().allocate(16);
  BOOST_REQUIRE(!refused.ok());
  const Status inside = refused.error();
  const Status failed = step.end_capture(3, inside, "F0 mb0", {0});
  BOOST_REQUIRE(!failed.ok());
  BOOST_TEST((failed.error().kind() == ErrorKind::kRuntime));
  BOOST_TEST(
      has(failed.error().message(), "step 3: capturing the step in a CUDA graph failed in F0 mb0: allocate (16 bytes)"));
  BOOST_TEST(has(failed.error().message(), "set train.cuda_graph = false to run it eagerly"));

  auto memory = cpu_device().allocate(16);
  BOOST_REQUIRE(memory.ok());
  BOOST_REQUIRE(step.begin_capture().ok());
  cpu_device().free(*memory);
  BOOST_TEST(!step.check_region().ok());
  const Status freed = step.end_capture(4, Status::success(), "B0 mb0", {0});
  BOOST_REQUIRE(!freed.ok());
  BOOST_TEST(has(freed.error().message(), "step 4: capturing the step in a CUDA graph failed in B0 mb0: free inside"));
}
