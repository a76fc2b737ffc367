// `llmrt plan` and `llmrt sweep`: the formatting of hand-built plan results (table, JSON, CSV,
// explanation, hostfile) on a small two-node topology, then the commands end to end on every
// shipped config.
#define BOOST_TEST_MODULE cli_plan
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/plan_report.h"
#include "config/read_spec.h"
#include "support/process.h"
#include "topology/cluster_fixtures.h"

namespace llmrt {
namespace {

using test::ProcessResult;
using test::TempDir;
using test::run_llmrt;
using test::source_path;

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

// Two nodes of 4 A100-80GB-SXM, each one NVLink island, joined by 200 Gbit/s InfiniBand.
Topology two_nodes() {
  ClusterSpec cluster = testing::make_cluster(
      {testing::gpu_node("n0", "A100-80GB-SXM", 4, 2, {testing::make_link(LinkKind::kNvlink, {0, 1, 2, 3}, 4)}),
       testing::gpu_node("n1", "A100-80GB-SXM", 4, 6, {testing::make_link(LinkKind::kNvlink, {0, 1, 2, 3}, 8)})});
  auto catalog = DeviceCatalog::build({});
  BOOST_REQUIRE(catalog.ok());
  auto topology = build_topology(cluster, *catalog);
  BOOST_REQUIRE_MESSAGE(topology.ok(), testing::error_text(topology));
  return std::move(*topology);
}

PlannedLayout planned(int pp, int tp, int dp, std::string schedule, int microbatch_size, int microbatches,
                      std::vector<int> stage_layers, double step_time_s, double tokens_per_s) {
  PlannedLayout p;
  p.layout.pp = pp, p.layout.tp = tp, p.layout.dp = dp;
  p.layout.schedule = std::move(schedule);
  p.layout.microbatch_size = microbatch_size;
  p.layout.microbatches = microbatches;
  p.layout.stage_layers = std::move(stage_layers);
  for (int rank = 0; rank < pp * tp * dp; ++rank) p.rank_to_device.push_back(rank);
  p.step_time_s = step_time_s;
  p.tokens_per_s = tokens_per_s;
  p.mfu = 0.4123;
  p.bubble_fraction = 0.083;
  p.peak_memory_gib.assign(static_cast<std::size_t>(pp * tp * dp), 30.0);
  p.peak_memory_gib[1] = 31.24;
  p.power_w = 5100;
  p.run_energy_kwh = 2.9;
  return p;
}

// The best: pp2·tp4 with a stage per node; the runner-up a pure tp4·dp2 without a pipeline.
PlanResult sample_result() {
  PlanResult result;
  result.ranked.push_back(planned(2, 4, 1, "1f1b", 4, 16, {7, 7}, 0.412, 159000));
  result.ranked.back().notes.push_back("stage 1 holds the head: 12% more compute");
  result.ranked.push_back(planned(1, 4, 2, "gpipe", 2, 16, {14}, 0.5, 131072));
  InfeasibleLayout infeasible;
  infeasible.layout.pp = 8;
  infeasible.layout.schedule = "zb-h1";
  infeasible.reason = "stage 0 needs 95.0 GiB on A100-80GB-SXM (80 GiB): 15.0 GiB short";
  result.infeasible.push_back(infeasible);
  return result;
}

BOOST_AUTO_TEST_CASE(labels_name_degrees_stages_and_memory_per_device_model) {
  const Topology topology = two_nodes();
  const PlanResult result = sample_result();
  BOOST_TEST(layout_label(result.ranked[0].layout) == "pp2·tp4·dp1 v1");
  BOOST_TEST(stage_layers_label({13, 12, 12, 13}) == "[13,12,12,13]");
  BOOST_TEST(peak_memory_label(result.ranked[0], topology) == "A100-80GB-SXM 31.2 GiB");
}

BOOST_AUTO_TEST_CASE(parallel_block_reads_back_as_the_same_layout) {
  PlannedLayout best = planned(4, 1, 2, "interleaved-1f1b", 2, 4, {3, 2, 2, 3, 2, 2, 2, 2}, 0.5, 123456);
  best.layout.virtual_stages = 2;
  const std::string block = format_parallel_block(best);
  BOOST_TEST_MESSAGE(block);
  BOOST_TEST(has(block, "stage_layers = [3, 2, 2, 3, 2, 2, 2, 2]"));
  TempDir dir("cli_parallel_block");
  const std::string config = dir.write("job.toml", "[cluster]\n[[cluster.node]]\nname = \"n0\"\n"
                                                   "cpus = { ranks = 8 }\n\n[model]\nseq_len = 16\nvocab_size = 64\n"
                                                   "[[model.layer]]\ncomponent = \"gpt.block\"\nrepeat = 18\n"
                                                   "d_model = 16\nheads = 2\n\n[train]\nglobal_batch = 16\n\n" +
                                                   block);
  auto spec = read_spec(config);
  BOOST_REQUIRE_MESSAGE(spec.ok(), (spec.ok() ? "" : spec.error().message()));
  const ParallelSpec& parallel = spec->parallel;
  BOOST_TEST(parallel.pp.value.value_or(0) == 4);
  BOOST_TEST(parallel.tp.value.value_or(0) == 1);
  BOOST_TEST(parallel.dp.value.value_or(0) == 2);
  BOOST_TEST(parallel.schedule == "interleaved-1f1b");
  BOOST_TEST(parallel.virtual_stages == 2);
  BOOST_TEST(parallel.microbatch_size == 2);
  BOOST_REQUIRE(parallel.stage_layers.value.has_value());
  BOOST_TEST(*parallel.stage_layers.value == best.layout.stage_layers, boost::test_tools::per_element());
  // And the layout it makes is the planned one.
  auto layout = fixed_layout(parallel, spec->train, 8);
  BOOST_REQUIRE(layout.ok());
  BOOST_TEST(layout->microbatches == best.layout.microbatches);
}

BOOST_AUTO_TEST_CASE(table_shows_ranked_rows_and_says_what_it_leaves_out) {
  const Topology topology = two_nodes();
  const std::string table = format_plan_table(sample_result(), topology, 10);
  BOOST_TEST_INFO(table);
  for (const char* piece : {"layout", "tokens/s", "MFU", "bubble", "peak memory", "pp2·tp4·dp1 v1", "1f1b", "4 × 16",
                            "[7,7]", "412 ms", "159,000", "41.2 %", "8.3 %", "A100-80GB-SXM 31.2 GiB", "5,100 W",
                            "pp1·tp4·dp2 v1", "1 layout infeasible", "2.9 kWh"}) {
    BOOST_TEST(has(table, piece), "missing " << piece);
  }
  const std::string top1 = format_plan_table(sample_result(), topology, 1);
  BOOST_TEST(!has(top1, "pp1·tp4·dp2"));
  BOOST_TEST(has(top1, "1 more feasible layout (--top N"));
}

BOOST_AUTO_TEST_CASE(json_holds_the_whole_result) {
  const nlohmann::json json = plan_result_json(sample_result(), two_nodes());
  BOOST_TEST(json["world_size"] == 8);
  BOOST_REQUIRE(json["ranked"].size() == 2u);
  const nlohmann::json& best = json["ranked"][0];
  BOOST_TEST(best["rank"] == 1);
  BOOST_TEST(best["layout"]["label"] == "pp2·tp4·dp1 v1");
  BOOST_TEST(best["layout"]["stage_layers"] == nlohmann::json({7, 7}));
  BOOST_TEST(best["rank_to_device"].size() == 8u);
  BOOST_TEST(best["peak_memory_gib_by_device_model"]["A100-80GB-SXM"] == 31.24);
  BOOST_TEST(best["notes"].size() == 1u);
  BOOST_TEST(best["layout"]["recompute"] == "none");
  BOOST_TEST(best["layout"]["zero"] == 0);
  BOOST_TEST(best["link_busy"].is_array());
  BOOST_TEST(json["without_device"].is_array());
  BOOST_REQUIRE(json["infeasible"].size() == 1u);
  BOOST_TEST(has(json["infeasible"][0]["reason"].get<std::string>(), "15.0 GiB short"));
}

// The memory savers a layout was planned with, why, how busy its links are, and the room
// without a device class: in the table, the explanation, the parallel block and the JSON.
BOOST_AUTO_TEST_CASE(savers_links_and_alternatives_are_reported) {
  const Topology topology = two_nodes();
  PlanResult result = sample_result();
  PlannedLayout& best = result.ranked[0];
  best.layout.recompute = Recompute::kSelective;
  best.layout.zero = 1;
  best.saver_reason = "pp2·tp4·dp1 fits only with selective recompute: +9 % step time, −38 % activation memory";
  best.link_busy = {{"nvlink", 0.05, 0.125}, {"network", 0.2, 0.5}};
  DeviceAlternative without;
  without.model = "V100-32GB";
  without.devices_left = 4;
  without.best = result.ranked[1];
  without.speedup = 1.25;
  without.energy_per_token_ratio = 0.5;
  result.without_device.push_back(without);
  const std::string table = format_plan_table(result, topology, 10);
  BOOST_TEST_MESSAGE(table);
  BOOST_TEST(has(table, "selective, zero 1"), table);
  BOOST_TEST(has(table, "links busy per step: nvlink 50.0 ms (12.5 %), network 200 ms (50.0 %)"), table);
  BOOST_TEST(has(table, "without V100-32GB: pp1·tp4·dp2 v1 gpipe at 131,072 tokens/s (+25 %)"), table);
  BOOST_TEST(has(table, "(-50 %) on 4 devices — the room is faster without them"), table);
  BOOST_TEST(has(format_plan_explanation(result, topology), "memory savers: " + best.saver_reason));
  const std::string block = format_parallel_block(best);
  BOOST_TEST(has(block, "zero = 1\n# and in [train]: recompute = \"selective\""), block);
  const nlohmann::json json = plan_result_json(result, topology);
  BOOST_TEST(json["ranked"][0]["layout"]["recompute"] == "selective");
  BOOST_TEST(json["ranked"][0]["saver_reason"] == best.saver_reason);
  BOOST_TEST(json["ranked"][0]["link_busy"][1]["link_class"] == "network");
  BOOST_TEST(json["ranked"][0]["link_busy"][1]["share"] == 0.5);
  BOOST_TEST(json["without_device"][0]["model"] == "V100-32GB");
  BOOST_TEST(json["without_device"][0]["speedup"] == 1.25);
}

BOOST_AUTO_TEST_CASE(csv_has_a_header_and_one_quoted_row_per_layout) {
  const std::string csv = format_plan_csv(sample_result(), two_nodes());
  std::istringstream lines(csv);
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  BOOST_REQUIRE(rows.size() == 3u);
  BOOST_TEST(rows[0].rfind("rank,pp,tp,dp,virtual_stages,schedule,", 0) == 0u);
  BOOST_TEST(rows[1].rfind("1,2,4,1,1,1f1b,4,16,\"[7,7]\",none,0,0.412,159000,", 0) == 0u, rows[1]);
  BOOST_TEST(has(rows[1], ",stage 1 holds the head: 12% more compute"));
}

BOOST_AUTO_TEST_CASE(explanation_places_groups_names_the_runner_up_and_the_infeasible) {
  const std::string text = format_plan_explanation(sample_result(), two_nodes());
  BOOST_TEST_INFO(text);
  for (const char* piece : {"why pp2·tp4·dp1 v1", "inside NVLink island 0 (n0 GPUs 0-3)",
                            "inside NVLink island 1 (n1 GPUs 0-3)", "stage 0: 7 layers on n0 GPUs 0-3",
                            "→ stage 1 over network (InfiniBand) 200 Gbit/s", "dp: 1",
                            "note: stage 1 holds the head", "runner-up pp1·tp4·dp2 v1 (gpipe, 2 × 16)",
                            "17.6 % fewer tokens/s", "pp 1 vs 2", "infeasible: 1 layout\n", "15.0 GiB short"}) {
    BOOST_TEST(has(text, piece), "missing " << piece);
  }
}

// Issue #12 item 5: the report gives the run's wall-clock time, its cost in the configured
// currency, and a line per node (cards, stages, peak memory against the card, draw at TDP:
// the A100-80GB-SXM datasheet's 400 W × 4).
BOOST_AUTO_TEST_CASE(report_gives_run_time_cost_currency_and_nodes) {
  PlanResult result = sample_result();
  PlannedLayout& best = result.ranked.front();
  best.run_time_s = best.step_time_s * 5000;  // 2,060 s
  best.run_cost = 0.87;
  result.currency = "EUR";
  const Topology topology = two_nodes();
  const std::string table = format_plan_table(result, topology, 2);
  BOOST_TEST(has(table, "34 min and 2.9 kWh for the run, cost 0.87 EUR"), table);
  const std::string text = format_plan_explanation(result, topology);
  BOOST_TEST(has(text, "n0: 4 × A100-80GB-SXM, stage 0, peak 31.2 of 80 GiB, 1,600 W at TDP"), text);
  BOOST_TEST(has(text, "n1: 4 × A100-80GB-SXM, stage 1, peak 30.0 of 80 GiB, 1,600 W at TDP"), text);
  const nlohmann::json json = plan_result_json(result, topology);
  BOOST_TEST(json.at("currency").get<std::string>() == "EUR");
  BOOST_TEST(json.at("ranked")[0].at("run_time_s").get<double>() == 2060.0, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(hostfile_lists_used_nodes_with_their_slots) {
  const Topology topology = two_nodes();
  const Hostfile both = format_hostfile(sample_result().ranked[0], topology);
  BOOST_TEST(both.exact);
  BOOST_TEST(has(both.text, "n0 slots=4\nn1 slots=4\n"));
  BOOST_TEST(both.notes.empty());

  PlannedLayout half = planned(1, 4, 1, "1f1b", 1, 8, {14}, 1, 1);
  half.rank_to_device = {4, 5, 6, 7};
  const Hostfile second_node = format_hostfile(half, topology);
  BOOST_TEST(second_node.exact);
  BOOST_TEST(has(second_node.text, "n1 slots=4\n"));
  BOOST_TEST(!has(second_node.text, "n0 slots"));
  BOOST_TEST(has(second_node.notes.at(0), "n0 is unused"));

  PlannedLayout split = planned(1, 4, 2, "1f1b", 1, 8, {14}, 1, 1);
  split.rank_to_device = {0, 1, 4, 5, 2, 3, 6, 7};  // ranks alternate between the nodes
  const Hostfile alternating = format_hostfile(split, topology);
  BOOST_TEST(!alternating.exact);
  BOOST_TEST(has(alternating.notes.back(), "rankfile"));
}

// ------------------------------------------------------------------------ end to end
std::vector<std::string> shipped_configs() {
  std::vector<std::string> configs;
  for (const auto& entry : std::filesystem::directory_iterator(source_path("configs"))) {
    if (entry.path().extension() == ".toml") configs.push_back(entry.path().string());
  }
  std::sort(configs.begin(), configs.end());
  return configs;
}

BOOST_AUTO_TEST_CASE(plan_ranks_layouts_for_every_shipped_config) {
  const std::vector<std::string> configs = shipped_configs();
  BOOST_REQUIRE(configs.size() >= 5u);
  for (const std::string& config : configs) {
    const ProcessResult result = run_llmrt({"plan", config});
    BOOST_TEST_INFO(config << "\n" << result.out << result.err);
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(has(result.out, "tokens/s"));
    BOOST_TEST(has(result.out, "1  pp"));  // at least one ranked row (the # column is right-aligned)
  }
}

BOOST_AUTO_TEST_CASE(plan_writes_json_csv_trace_and_hostfile) {
  const std::string config = source_path("configs/dgx-a100-2node.toml");
  const ProcessResult json = run_llmrt({"plan", config, "--json"});
  BOOST_REQUIRE_MESSAGE(json.exit_code == 0, json.err);
  const nlohmann::json parsed = nlohmann::json::parse(json.out);
  BOOST_TEST(!parsed["ranked"].empty());
  BOOST_TEST(parsed["ranked"][0]["rank_to_device"].size() == 16u);

  const ProcessResult csv = run_llmrt({"plan", config, "--csv"});
  BOOST_TEST(csv.exit_code == 0);
  BOOST_TEST(csv.out.rfind("rank,pp,tp,dp", 0) == 0u);

  TempDir dir("cli_plan");
  const std::string trace = dir.path() + "/predicted.json", hostfile = dir.path() + "/hosts";
  const ProcessResult files = run_llmrt({"plan", config, "--top", "3", "--explain", "--trace", trace, "--hostfile", hostfile});
  BOOST_TEST_INFO(files.out << files.err);
  BOOST_TEST(files.exit_code == 0);
  BOOST_TEST(has(files.out, "why pp"));
  BOOST_TEST(has(files.out, "\n3  pp"));  // three rows: the # column is one digit wide
  BOOST_TEST(!has(files.out, "\n4  pp"));
  std::ifstream trace_in(trace);
  const nlohmann::json events = nlohmann::json::parse(trace_in);
  BOOST_TEST(!events["traceEvents"].empty());
  std::ifstream hosts_in(hostfile);
  const std::string hosts((std::istreambuf_iterator<char>(hosts_in)), std::istreambuf_iterator<char>());
  BOOST_TEST(has(hosts, "dgx01 slots=8\ndgx02 slots=8\n"));
}

// GPT-2 124M on one H100 in bf16 (pp = tp = dp = 1, B = 16, T = 1024): the rank's layer scratch
// is the head's backward carve, (N, Vp) bf16 logits + (N, C) d_lnf + (N) ids in 256-byte regions
// (every block's is smaller), counted once in the peak and shown per stage.
BOOST_AUTO_TEST_CASE(plan_counts_the_heads_logits_as_scratch) {
  const std::string config = source_path("configs/gpt2-124m-h100.toml");
  const ProcessResult json = run_llmrt({"plan", config, "--json"});
  BOOST_REQUIRE_MESSAGE(json.exit_code == 0, json.err);
  const nlohmann::json best = nlohmann::json::parse(json.out)["ranked"].at(0);
  BOOST_REQUIRE(best["scratch_bytes"].size() == 1u);
  const double n = 16 * 1024, vp = 50304, c = 768;
  auto up = [](double bytes) { return std::ceil(bytes / 256) * 256; };
  const double logits = n * vp * 2, want = up(logits) + up(n * c * 2) + up(n * 4);
  BOOST_TEST(best["scratch_bytes"][0].get<double>() == want);
  BOOST_TEST(want - logits < 0.02 * logits);  // the logits are nearly all of it: about 1.6 GiB
  // The peak holds it beside the model state: 124M parameters at 18 bytes each in bf16 with
  // AdamW (weights 2, fp32 gradients 4, moments 8, master 4).
  BOOST_TEST(best["peak_memory_gib"][0].get<double>() * 1073741824.0 > want + 124e6 * 18);

  const ProcessResult explained = run_llmrt({"plan", config, "--explain"});
  BOOST_TEST_INFO(explained.out << explained.err);
  BOOST_TEST(explained.exit_code == 0);
  BOOST_TEST(has(explained.out, fmt::format("(scratch {:.2f} GiB)", want / 1073741824.0)));
}

BOOST_AUTO_TEST_CASE(sweep_keeps_to_the_grid_and_measure_needs_mpirun) {
  const std::string config = source_path("configs/dgx-a100-2node.toml");
  const ProcessResult sweep = run_llmrt({"sweep", config, "--json"});
  BOOST_REQUIRE_MESSAGE(sweep.exit_code == 0, sweep.err);
  const nlohmann::json parsed = nlohmann::json::parse(sweep.out);
  BOOST_TEST(!parsed["ranked"].empty());
  for (const nlohmann::json& entry : parsed["ranked"]) {  // [sweep] pp = [1, 2, 4], tp = [1, 2, 4, 8]
    BOOST_TEST(entry["layout"]["pp"].get<int>() <= 4);
    BOOST_TEST(entry["layout"]["schedule"] != "gpipe");
  }
  const ProcessResult measure = run_llmrt({"sweep", config, "--measure"});
  BOOST_TEST(measure.exit_code == 2);
  BOOST_TEST(has(measure.err, "start it under mpirun with 16 ranks"));
  const ProcessResult calibrate_alone = run_llmrt({"sweep", config, "--calibrate"});
  BOOST_TEST(calibrate_alone.exit_code == 2);
  BOOST_TEST(has(calibrate_alone.err, "add --measure"));
}

BOOST_AUTO_TEST_CASE(measured_sweep_writes_its_three_outputs_and_a_calibration) {
  TempDir dir("cli_sweep_measure");
  const std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "sweep",
                                         source_path("configs/local-cpu.toml"), "--measure", "--calibrate",
                                         "--set", "sweep.measure_top_k=2", "--set", "sweep.measure_steps=3",
                                         "--set", "metrics.run_dir=" + dir.path()};
  const ProcessResult result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 300);
  BOOST_TEST_INFO(result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  std::ifstream csv_in(dir.path() + "/sweep.csv");
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv_in, line);) lines.push_back(line);
  BOOST_REQUIRE(lines.size() == 3u);  // header and the two measured layouts
  const auto json = nlohmann::json::parse(std::ifstream(dir.path() + "/sweep.json"));
  BOOST_REQUIRE(json["ranked"].size() == 2u);
  for (const auto& row : json["ranked"]) {
    BOOST_TEST(row["measured"]["tokens_per_s"].get<double>() > 0);
    const double error = row["measured"]["prediction_error"].get<double>();
    BOOST_TEST(std::abs(error - (row["tokens_per_s"].get<double>() / row["measured"]["tokens_per_s"].get<double>() - 1)) < 1e-9);
  }
  std::ifstream svg_in(dir.path() + "/sweep.svg");
  const std::string svg((std::istreambuf_iterator<char>(svg_in)), std::istreambuf_iterator<char>());
  BOOST_TEST(has(svg, "<svg"));
  BOOST_TEST(std::count(svg.begin(), svg.end(), '\n') > 5);
  std::ifstream calibration_in(dir.path() + "/calibration.toml");
  const std::string calibration((std::istreambuf_iterator<char>(calibration_in)), std::istreambuf_iterator<char>());
  BOOST_TEST(has(calibration, "[plan]\ncompute_efficiency = 0."));
}

BOOST_AUTO_TEST_CASE(plan_without_a_fitting_layout_names_the_shortfall) {
  // A ~10B-parameter GPT on one 24 GiB card: its optimizer state alone is far beyond it.
  TempDir dir("cli_plan_short");
  const std::string config = dir.write(
      "big.toml",
      "[cluster]\n[[cluster.node]]\nname = \"ws01\"\ngpus = { model = \"RTX-3090\", count = 1 }\n"
      "[model]\nseq_len = 1024\nvocab_size = 50304\n"
      "[[model.layer]]\ncomponent = \"gpt.embedding\"\nd_model = 4096\n"
      "[[model.layer]]\ncomponent = \"gpt.block\"\nrepeat = 48\nd_model = 4096\nheads = 32\n"
      "[[model.layer]]\ncomponent = \"gpt.head\"\ntied_embedding = true\n"
      "[train]\nglobal_batch = 8\nprecision = \"bf16\"\n");
  const ProcessResult result = run_llmrt({"plan", config});
  BOOST_TEST_INFO(result.out << result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "RTX-3090"));
}

BOOST_AUTO_TEST_CASE(fixed_degrees_that_contradict_the_model_or_topology_are_config_errors) {
  const std::string config = source_path("configs/dgx-a100-2node.toml");
  const ProcessResult tp3 = run_llmrt({"plan", config, "--set", "parallel.tp=3"});
  BOOST_TEST(tp3.exit_code == 2);
  BOOST_TEST(has(tp3.err, "parallel.tp"));
  BOOST_TEST(has(tp3.err, "does not divide heads = 25"));
  // 8 CPU ranks, 3 layers: 8 pipeline stages cannot each get one.
  TempDir dir("cli_plan_deep");
  const std::string small = dir.write("small.toml", "[cluster]\n[[cluster.node]]\nname = \"n\"\ncpus = { ranks = 8 }\n"
                                                    "[model]\nseq_len = 16\nvocab_size = 32\n[[model.layer]]\n"
                                                    "component = \"gpt.embedding\"\nd_model = 8\n[[model.layer]]\n"
                                                    "component = \"gpt.block\"\nheads = 2\n[[model.layer]]\n"
                                                    "component = \"gpt.head\"\n[parallel]\npp = 8\n[train]\n"
                                                    "global_batch = 8\n");
  const ProcessResult pp_too_deep = run_llmrt({"plan", small});
  BOOST_TEST_INFO(pp_too_deep.err);
  BOOST_TEST(pp_too_deep.exit_code == 2);
  BOOST_TEST(has(pp_too_deep.err, "parallel.pp"));
}

}  // namespace
}  // namespace llmrt

namespace llmrt {
namespace {

// The cluster owner's case: a mixed 3090/A100/4090 room on 10 GbE, a model whose stages the
// planner splits by device speed, at bf16 (every card of this room has it).
const char* kMixedRoom = R"([cluster]
name = "mixed-room"
[[cluster.node]]
name = "a"
gpus = { model = "RTX-3090", count = 2 }
links = [ { kind = "pcie", gpus = "0-1" } ]
[[cluster.node]]
name = "b"
gpus = [ { model = "A100-80GB-PCIE", count = 1 }, { model = "RTX-4090", count = 1 } ]
links = [ { kind = "pcie", gpus = "0-1" } ]
[cluster.network]
kind = "ethernet"
bandwidth_gbps = 10
[model]
seq_len = 512
vocab_size = 4096
[[model.layer]]
component = "gpt.embedding"
d_model = 512
[[model.layer]]
component = "gpt.block"
repeat = 8
d_model = 512
heads = 8
[[model.layer]]
component = "gpt.head"
[parallel]
pp = 4
tp = 1
dp = 1
[train]
global_batch = 16
precision = "bf16"
)";

}  // namespace

// What `plan` predicts for pinned degrees is what `check` (and so `run`) builds: the same
// stage split by device speed, not an equal-cost one; and --parallel-block pastes back as it.
BOOST_AUTO_TEST_CASE(pinned_degrees_run_the_split_plan_predicted) {
  TempDir dir("cli_plan_is_run");
  const std::string config = dir.write("room.toml", kMixedRoom);
  const ProcessResult planned = run_llmrt({"plan", config, "--json"});
  BOOST_REQUIRE_MESSAGE(planned.exit_code == 0, planned.err);
  const nlohmann::json best = nlohmann::json::parse(planned.out)["ranked"][0]["layout"];
  const std::vector<int> predicted = best["stage_layers"].get<std::vector<int>>();
  const std::vector<std::string> pin = {
      "--set", "parallel.schedule=" + best["schedule"].get<std::string>(),
      "--set", "parallel.microbatch_size=" + std::to_string(best["microbatch_size"].get<int>()),
      "--set", "parallel.virtual_stages=" + std::to_string(best["virtual_stages"].get<int>())};
  std::vector<std::string> args = {"check", config};
  args.insert(args.end(), pin.begin(), pin.end());
  const ProcessResult checked = run_llmrt(args);
  BOOST_REQUIRE_MESSAGE(checked.exit_code == 0, checked.err);
  BOOST_TEST_INFO(checked.out);
  BOOST_TEST(has(checked.out, "stage layers " + stage_layers_label(predicted)));
  // Equal speeds would have split 10 layers differently: the case is one that tells them apart.
  BOOST_TEST(predicted != std::vector<int>({3, 2, 2, 3}));

  const ProcessResult block = run_llmrt({"plan", config, "--parallel-block"});
  BOOST_REQUIRE_MESSAGE(block.exit_code == 0, block.err);
  BOOST_TEST(has(block.out, "[parallel]"));
  const std::string pasted = dir.write("pasted.toml", std::string(kMixedRoom).substr(0, std::string(kMixedRoom).find("[parallel]")) +
                                                          block.out + "[train]\nglobal_batch = 16\nprecision = \"bf16\"\n");
  const ProcessResult again = run_llmrt({"check", pasted});
  BOOST_REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  BOOST_TEST(has(again.out, "stage layers " + stage_layers_label(predicted)));
  BOOST_TEST(run_llmrt({"plan", config, "--parallel-block", "--json"}).exit_code == 2);
}

}  // namespace llmrt
