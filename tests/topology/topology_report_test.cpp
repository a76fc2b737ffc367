// The `llmrt check` topology summary: what it must show for a mixed cluster.
#define BOOST_TEST_MODULE topology_report
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <set>

#include "topology/cluster_fixtures.h"
#include "topology/topology_report.h"

namespace llmrt {
namespace {

using testing::cpu_node;
using testing::gpu_node;
using testing::make_cluster;
using testing::make_link;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// The line of `text` that starts with `label`, or "" when none does.
std::string line_starting(const std::string& text, std::string_view label) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    if (line.rfind(label, 0) == 0) return line;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

// The lines that describe a link between two device models, in report order.
std::vector<std::string> link_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string line = text.substr(start, end - start);
    if (contains(line, " <-> ")) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

struct Fixture {
  ClusterSpec cluster = make_cluster(
      {gpu_node("gpu01", "A100-80GB-SXM", 8, 3, {make_link(LinkKind::kNvlink, {0, 1, 2, 3, 4, 5, 6, 7}, 5)}),
       gpu_node("gpu02", "RTX-3090", 4, 9,
                {make_link(LinkKind::kNvlink, {0, 1}, 11), make_link(LinkKind::kPcie, {0, 1, 2, 3}, 12, 256)}),
       cpu_node("cpu01", 2, 4, 15)});
  DeviceCatalog catalog = DeviceCatalog::build({}).value();
  Topology topology = build_topology(cluster, catalog).value();
  std::string text = format_topology(topology, cluster);
};

BOOST_FIXTURE_TEST_CASE(names_every_node_with_its_devices_and_ranks, Fixture) {
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(contains(line_starting(text, "node gpu01"), "8 x A100-80GB-SXM"));
  BOOST_TEST(contains(line_starting(text, "node gpu01"), "ranks 0-7"));
  BOOST_TEST(contains(line_starting(text, "node gpu02"), "4 x RTX-3090"));
  BOOST_TEST(contains(line_starting(text, "node gpu02"), "ranks 8-11"));
  BOOST_TEST(contains(line_starting(text, "node cpu01"), "2 CPU ranks x 4 threads"));
  BOOST_TEST(contains(line_starting(text, "world size"), std::to_string(topology.world_size())));
}

BOOST_FIXTURE_TEST_CASE(shows_islands_links_and_network, Fixture) {
  BOOST_TEST(contains(line_starting(text, "  nvlink islands"), "[0-7]"));
  BOOST_TEST(contains(text, "[0-1]; GPU 2-3 alone"));
  const double a100_nvlink = catalog.find("A100-80GB-SXM")->nvlink_bandwidth_gbps;
  const double rtx_nvlink = catalog.find("RTX-3090")->nvlink_bandwidth_gbps;
  const std::vector<std::string> links = link_lines(text);
  BOOST_REQUIRE(links.size() == 4u);
  BOOST_TEST(contains(links[0], "A100-80GB-SXM <-> A100-80GB-SXM"));
  BOOST_TEST(contains(links[0], fmt::format(" {:g} Gbit/s", a100_nvlink)));
  BOOST_TEST(contains(links[1], fmt::format(" {:g} Gbit/s", rtx_nvlink)));
  BOOST_TEST(contains(links[2], "RTX-3090 <-> RTX-3090"));
  BOOST_TEST(contains(links[2], "pcie"));
  BOOST_TEST(contains(links[2], "256 Gbit/s"));
  BOOST_TEST(contains(links[3], "shared memory"));
  // Aligned: the link class starts in the same column on every link line.
  const std::size_t column = links[0].find("nvlink");
  BOOST_TEST(links[1].find("nvlink") == column);
  BOOST_TEST(links[2].find("pcie") == column);
  BOOST_TEST(links[3].find("shared memory") == column);
  BOOST_TEST(contains(line_starting(text, "network"), "infiniband, 200 Gbit/s"));
}

BOOST_FIXTURE_TEST_CASE(totals_match_the_topology, Fixture) {
  const double power = topology.total_power_w(cluster.power_overhead_w_per_node);
  BOOST_TEST(contains(line_starting(text, "power"), fmt::format("{:g} W", power)));
  BOOST_TEST(contains(line_starting(text, "peak TFLOP/s"),
                      fmt::format("bf16 {:.1f}", topology.peak_tflops(PeakPrecision::kBf16))));
  for (char c : text) BOOST_TEST(c != '\x1b');  // plain text: no terminal colour codes
}

// The report's link rows come from one pair per class of alike devices; the reference twin
// asks every pair. An irregular node (two cards, NVLink islands of 1, 2 and 3 GPUs, a PCIe
// link over part of them) must give the same rows.
std::set<std::string> every_pair_kinds(const Topology& topology, int first, int count) {
  std::set<std::string> kinds;
  for (int a = first; a < first + count; ++a) {
    for (int b = a + 1; b < first + count; ++b) {
      const LinkInfo link = topology.link_between(a, b);
      kinds.insert(fmt::format("{} <-> {} {} {:g} Gbit/s {:g} us", topology.device(a).model->name,
                               topology.device(b).model->name, link_class_name(link.link_class), link.bandwidth_gbps,
                               link.latency_us));
    }
  }
  return kinds;
}

std::set<std::string> reported_kinds(const std::string& text) {
  std::set<std::string> kinds;
  for (std::string line : link_lines(text)) {
    if (line.rfind("  links", 0) == 0) line = line.substr(7);
    std::string squeezed;  // the columns' padding collapsed to one space
    for (char c : line) {
      if (c != ' ' || (!squeezed.empty() && squeezed.back() != ' ')) squeezed += c;
    }
    while (!squeezed.empty() && squeezed.back() == ' ') squeezed.pop_back();
    kinds.insert(squeezed);
  }
  return kinds;
}

BOOST_AUTO_TEST_CASE(link_rows_equal_those_of_every_pair) {
  NodeSpec node = gpu_node("mixed", "A100-80GB-SXM", 6, 3,
                           {make_link(LinkKind::kNvlink, {1, 2}, 5, 300), make_link(LinkKind::kNvlink, {3, 4, 6}, 6, 200),
                            make_link(LinkKind::kPcie, {0, 2, 7, 8}, 7, 100)});
  node.gpus.push_back(GpuGroupSpec{{"RTX-3090", testing::pos_at(4, 8, "cluster.node.gpus.model")}, 4});
  const ClusterSpec cluster = make_cluster({node});
  const Topology topology = build_topology(cluster, DeviceCatalog::build({}).value()).value();
  const std::string text = format_topology(topology, cluster);
  BOOST_TEST_MESSAGE(text);
  const std::set<std::string> want = every_pair_kinds(topology, 0, 10);
  BOOST_TEST(want.size() >= 5u);  // the node is irregular enough to be worth comparing
  BOOST_TEST(reported_kinds(text) == want, boost::test_tools::per_element());
}

// `check` of a large cluster is linear in its devices: 64 nodes of 1,024 GPUs report in well
// under a second (the pairwise walk took minutes).
BOOST_AUTO_TEST_CASE(a_cluster_of_65536_devices_reports_quickly) {
  std::vector<NodeSpec> nodes;
  for (int n = 0; n < 64; ++n) nodes.push_back(gpu_node(fmt::format("n{}", n), "H100-SXM", 1024, 10 + n));
  const ClusterSpec cluster = make_cluster(nodes);
  const auto start = std::chrono::steady_clock::now();
  const Topology topology = build_topology(cluster, DeviceCatalog::build({}).value()).value();
  const std::string text = format_topology(topology, cluster);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST(contains(line_starting(text, "world size"), "65536"));
  BOOST_TEST(seconds < 5.0, "took " << seconds << " s");
}

}  // namespace
}  // namespace llmrt
