// The job layer without a launcher: open checks what it must, resolve gives a world of one the
// whole model and a launched world [parallel]'s or the planner's layout, build trains.
#define BOOST_TEST_MODULE job_run_path
#include <boost/test/unit_test.hpp>

#include <numeric>

#include "job/job.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

// Two CPU ranks, a 6-layer GPT; `parallel` is the [parallel] table's body.
std::string config(const std::string& parallel) {
  return R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = { ranks = 2, threads_per_rank = 1 }
[model]
seq_len = 16
vocab_size = 64
[[model.layer]]
component = "gpt.embedding"
d_model = 32
[[model.layer]]
component = "gpt.block"
repeat = 4
d_model = 32
heads = 2
[[model.layer]]
component = "gpt.head"
tied_embedding = true
[parallel]
)" + parallel + R"(
[train]
steps = 3
global_batch = 8
)";
}

std::unique_ptr<OpenJob> open(const TempDir& dir, const std::string& parallel, const World& world) {
  auto job = open_job(JobRequest{dir.write("job.toml", config(parallel)), {}, false, false}, world);
  BOOST_REQUIRE_MESSAGE(job.ok(), (job.ok() ? "" : job.error().message()));
  return std::move(*job);
}

int sum(const std::vector<int>& values) { return std::accumulate(values.begin(), values.end(), 0); }

}  // namespace

BOOST_AUTO_TEST_CASE(a_world_of_one_holds_the_whole_model_whatever_parallel_says) {
  TempDir dir("job_one");
  World world;  // no launcher in a unit test
  BOOST_REQUIRE(!world.launched());
  auto job = open(dir, "pp = 2\ntp = 1\ndp = 1\nmicrobatch_size = 2\nstage_layers = [2, 4]", world);
  auto resolved = resolve_job(*job, world.size());
  BOOST_REQUIRE_MESSAGE(resolved.ok(), (resolved.ok() ? "" : resolved.error().message()));
  BOOST_TEST(resolved->layout.world_size() == 1);
  BOOST_TEST(resolved->layout.microbatches == 4);  // global_batch 8 / microbatch_size 2
  BOOST_TEST(resolved->layout.stage_layers == std::vector<int>({6}));
  BOOST_TEST(!resolved->planned);
}

BOOST_AUTO_TEST_CASE(fixed_degrees_give_the_fixed_layout_and_its_stage_split) {
  TempDir dir("job_fixed");
  World world;
  auto job = open(dir, "pp = 2\ntp = 1\ndp = 1\nmicrobatch_size = 2\nstage_layers = [2, 4]", world);
  auto resolved = resolve_job(*job, 2);  // as under `mpirun -np 2`
  BOOST_REQUIRE_MESSAGE(resolved.ok(), (resolved.ok() ? "" : resolved.error().message()));
  BOOST_TEST(resolved->layout.pp == 2);
  BOOST_TEST(resolved->layout.stage_layers == std::vector<int>({2, 4}));
  BOOST_TEST(!resolved->planned);
  // The tied embedding lives on the first and the last stage.
  BOOST_TEST(resolved->tie_stages.at("wte") == std::set<int>({0, 1}));
}

BOOST_AUTO_TEST_CASE(auto_degrees_take_the_planners_best_and_pin_parallel_to_it) {
  TempDir dir("job_auto");
  World world;
  auto job = open(dir, "pp = \"auto\"\ntp = \"auto\"\ndp = \"auto\"", world);
  auto resolved = resolve_job(*job, 2);
  BOOST_REQUIRE_MESSAGE(resolved.ok(), (resolved.ok() ? "" : resolved.error().message()));
  BOOST_REQUIRE(resolved->planned.has_value());
  const Layout& layout = resolved->layout;
  BOOST_TEST(layout.world_size() == 2);
  BOOST_TEST(layout.pp == resolved->planned->layout.pp);
  BOOST_TEST(layout.stage_layers == resolved->planned->layout.stage_layers);
  BOOST_TEST(sum(layout.stage_layers) == 6);
  // What run_dir/config.resolved.toml and plan.json describe is what runs.
  BOOST_TEST(job->spec.parallel.pp.value.value() == layout.pp);
  BOOST_TEST(job->spec.parallel.microbatch_size == layout.microbatch_size);
}

BOOST_AUTO_TEST_CASE(a_layout_that_does_not_fit_the_world_is_refused_with_the_key) {
  TempDir dir("job_misfit");
  World world;
  auto job = open(dir, "pp = 2\ntp = 2\ndp = 1", world);
  auto resolved = resolve_job(*job, 2);
  BOOST_REQUIRE(!resolved.ok());
  BOOST_TEST(resolved.error().exit_code() == 2);
  BOOST_TEST(resolved.error().message().find("parallel.pp") != std::string::npos, resolved.error().message());
}

BOOST_AUTO_TEST_CASE(open_refuses_a_missing_component_naming_its_position) {
  TempDir dir("job_missing");
  World world;
  const std::string path =
      dir.write("job.toml", config("schedule = \"1f2b\""));
  auto job = open_job(JobRequest{path, {}, false, false}, world);
  BOOST_REQUIRE(!job.ok());
  BOOST_TEST(job.error().exit_code() == 2);
  BOOST_TEST(job.error().message().find("1f1b") != std::string::npos, job.error().message());  // did you mean
}

BOOST_AUTO_TEST_CASE(start_training_trains_a_world_of_one) {
  TempDir dir("job_train");
  World world;
  auto job = start_training(
      JobRequest{dir.write("job.toml", config("pp = 2\ntp = 1\ndp = 1\nmicrobatch_size = 4")), {}, false, true},
      world);
  BOOST_REQUIRE_MESSAGE(job.ok(), (job.ok() ? "" : job.error().message()));
  auto first = job->trainer().train_step();
  BOOST_REQUIRE(first.ok());
  BOOST_TEST(std::abs(first->loss - std::log(64.0)) < 0.5);  // random init: about ln(vocab)
  BOOST_TEST(first->tokens == 8 * 16);
}
