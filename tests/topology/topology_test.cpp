// Topology building: rank order, NVLink islands, link classes and bandwidths, totals, and the
// config errors it reports.
#define BOOST_TEST_MODULE topology_build
#include <boost/test/unit_test.hpp>

#include "topology/cluster_fixtures.h"
#include "topology/topology.h"

namespace llmrt {
namespace {

using testing::cpu_node;
using testing::gpu_node;
using testing::make_cluster;
using testing::make_link;

DeviceCatalog builtin_catalog() {
  auto catalog = DeviceCatalog::build({});
  BOOST_REQUIRE_MESSAGE(catalog.ok(), testing::error_text(catalog));
  return std::move(catalog.value());
}

Topology build_ok(const ClusterSpec& cluster) {
  auto topology = build_topology(cluster, builtin_catalog());
  BOOST_REQUIRE_MESSAGE(topology.ok(), testing::error_text(topology));
  return std::move(topology.value());
}

std::string build_error(const ClusterSpec& cluster) {
  auto topology = build_topology(cluster, builtin_catalog());
  BOOST_REQUIRE_MESSAGE(!topology.ok(), "expected the cluster to be rejected");
  BOOST_TEST((topology.error().kind() == ErrorKind::kInput));
  BOOST_TEST_MESSAGE(topology.error().message());
  return topology.error().message();
}

// "0,1|2" for islands {0, 1} and {2}: comparable and printable in one step.
std::string format_islands(const std::vector<std::vector<int>>& islands) {
  std::string text;
  for (const auto& island : islands) {
    if (!text.empty()) text += "|";
    for (std::size_t i = 0; i < island.size(); ++i) {
      if (i > 0) text += ",";
      text += std::to_string(island[i]);
    }
  }
  return text;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Two nodes: 2 RTX-3090 joined only by PCIe (explicit 200 Gbit/s), 2 A100 joined by NVLink.
ClusterSpec mixed_cluster() {
  return make_cluster(
      {gpu_node("consumer", "RTX-3090", 2, 5, {make_link(LinkKind::kPcie, {0, 1}, 7, 200)}),
       gpu_node("dgx", "A100-80GB-SXM", 2, 10, {make_link(LinkKind::kNvlink, {0, 1}, 12)})});
}

BOOST_AUTO_TEST_CASE(eight_gpu_nvlink_node_is_one_island) {
  const Topology topology = build_ok(make_cluster(
      {gpu_node("gpu01", "A100-80GB-SXM", 8, 3, {make_link(LinkKind::kNvlink, {0, 1, 2, 3, 4, 5, 6, 7}, 5)})}));
  BOOST_TEST(topology.world_size() == 8);
  BOOST_TEST(topology.node_count() == 1);
  BOOST_TEST(format_islands(topology.islands()) == "0,1,2,3,4,5,6,7");
  for (const Device& device : topology.devices()) BOOST_TEST(device.island == 0);
}

BOOST_AUTO_TEST_CASE(devices_are_in_rank_order_node_by_node) {
  const Topology topology = build_ok(mixed_cluster());
  BOOST_REQUIRE(topology.world_size() == 4);
  const std::vector<std::pair<int, int>> node_and_local{{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  for (int rank = 0; rank < 4; ++rank) {
    const Device& device = topology.device(rank);
    BOOST_TEST(device.global_index == rank);
    BOOST_TEST(device.node == node_and_local[rank].first);
    BOOST_TEST(device.local_index == node_and_local[rank].second);
    BOOST_TEST(device.cpu_threads == 0);
  }
  BOOST_TEST(topology.device(0).model->name == "RTX-3090");
  BOOST_TEST(topology.device(3).model->name == "A100-80GB-SXM");
  BOOST_TEST(topology.nodes()[1].first_device == 2);
}

BOOST_AUTO_TEST_CASE(pcie_pair_and_nvlink_pair_make_three_islands) {
  const Topology topology = build_ok(mixed_cluster());
  BOOST_TEST(format_islands(topology.islands()) == "0|1|2,3");
  BOOST_TEST(topology.device(1).island != topology.device(0).island);
  BOOST_TEST(topology.device(2).island == topology.device(3).island);
}

BOOST_AUTO_TEST_CASE(link_classes_and_bandwidths) {
  const Topology topology = build_ok(mixed_cluster());
  const DeviceCatalog catalog = builtin_catalog();
  const DeviceModel* a100 = catalog.find("A100-80GB-SXM");

  const LinkInfo same_island = topology.link_between(2, 3);
  BOOST_TEST((same_island.link_class == LinkClass::kNvlink));
  BOOST_TEST(same_island.bandwidth_gbps == a100->nvlink_bandwidth_gbps);
  BOOST_TEST(same_island.latency_us == kNvlinkLatencyUs);

  const LinkInfo cross_pcie = topology.link_between(1, 0);
  BOOST_TEST((cross_pcie.link_class == LinkClass::kPcie));
  BOOST_TEST(cross_pcie.bandwidth_gbps == 200);  // the link's own figure, not the catalog's
  BOOST_TEST(cross_pcie.latency_us == kPcieLatencyUs);

  const LinkInfo cross_node = topology.link_between(0, 3);
  BOOST_TEST((cross_node.link_class == LinkClass::kNetwork));
  BOOST_TEST(cross_node.bandwidth_gbps == 200);
  BOOST_TEST(cross_node.latency_us == 3.5);

  const LinkInfo same_device = topology.link_between(2, 2);
  BOOST_TEST((same_device.link_class == LinkClass::kSameDevice));
  BOOST_TEST(same_device.bandwidth_gbps == a100->memory_bandwidth_gbps);
}

BOOST_AUTO_TEST_CASE(unlinked_gpus_use_catalog_pcie_and_explicit_nvlink_bandwidth) {
  ClusterSpec cluster = make_cluster({gpu_node(
      "box", "H100-PCIE", 4, 3, {make_link(LinkKind::kNvlink, {0, 1}, 5, 1000)})});
  const Topology topology = build_ok(cluster);
  BOOST_TEST(topology.islands().size() == 3u);
  BOOST_TEST(topology.link_between(0, 1).bandwidth_gbps == 1000);
  const LinkInfo unlinked = topology.link_between(1, 2);
  BOOST_TEST((unlinked.link_class == LinkClass::kPcie));
  BOOST_TEST(unlinked.bandwidth_gbps == builtin_catalog().find("H100-PCIE")->pcie_bandwidth_gbps);
}

BOOST_AUTO_TEST_CASE(overlapping_nvlink_links_merge_islands) {
  const Topology topology = build_ok(make_cluster({gpu_node(
      "box", "A100-40GB-SXM", 7, 3,
      {make_link(LinkKind::kNvlink, {0, 1, 2}, 5, 2400), make_link(LinkKind::kNvlink, {2, 4}, 6, 1600),
       make_link(LinkKind::kNvlink, {5, 6}, 7)})}));
  BOOST_TEST(format_islands(topology.islands()) == "0,1,2,4|3|5,6");
  BOOST_TEST(topology.link_between(0, 1).bandwidth_gbps == 2400);  // a link names both
  BOOST_TEST(topology.link_between(2, 4).bandwidth_gbps == 1600);
  // 0 and 4 share no link: the merged island's slowest link bounds them.
  BOOST_TEST((topology.link_between(0, 4).link_class == LinkClass::kNvlink));
  BOOST_TEST(topology.link_between(0, 4).bandwidth_gbps == 1600);
}

BOOST_AUTO_TEST_CASE(nvlink_link_inside_an_existing_island_is_rejected) {
  const std::string message = build_error(make_cluster({gpu_node(
      "box", "A100-40GB-SXM", 4, 3,
      {make_link(LinkKind::kNvlink, {0, 1, 2, 3}, 5), make_link(LinkKind::kNvlink, {1, 2}, 9)})}));
  BOOST_TEST(contains(message, "lab.toml:9:12"));
  BOOST_TEST(contains(message, "1,2"));
  BOOST_TEST(contains(message, "island"));
}

BOOST_AUTO_TEST_CASE(gpu_index_past_the_node_is_rejected) {
  const std::string message = build_error(make_cluster({gpu_node(
      "gpu01", "A100-80GB-SXM", 8, 3, {make_link(LinkKind::kNvlink, {0, 1, 2, 3, 4, 5, 6, 7, 8}, 7)})}));
  BOOST_TEST(contains(message, "lab.toml:7:12"));
  BOOST_TEST(contains(message, "GPU index 8"));
  BOOST_TEST(contains(message, "has 8 GPUs"));
  BOOST_TEST(contains(message, "gpu01"));
}

BOOST_AUTO_TEST_CASE(unknown_model_lists_known_names_and_suggests) {
  const std::string message =
      build_error(make_cluster({gpu_node("gpu01", "A100-80G-SXM", 8, 3)}));
  BOOST_TEST(contains(message, "lab.toml:4:8"));  // the model value, not the node table
  BOOST_TEST(contains(message, "\"A100-80G-SXM\""));
  BOOST_TEST(contains(message, "did you mean \"A100-80GB-SXM\""));
  for (const std::string& name : builtin_catalog().gpu_names()) BOOST_TEST(contains(message, name));
  BOOST_TEST(!contains(message, "cpu"));  // not a GPU model

  const std::string far = build_error(make_cluster({gpu_node("gpu01", "Quantum-9000", 1, 3)}));
  BOOST_TEST(!contains(far, "did you mean"));
  BOOST_TEST(contains(far, "H100-SXM"));
}

BOOST_AUTO_TEST_CASE(structural_errors_name_their_position) {
  BOOST_TEST(contains(build_error(make_cluster({gpu_node("a", "L40S", 2, 3), gpu_node("a", "L40S", 2, 8)})),
                      "lab.toml:8:1"));
  NodeSpec cpu = cpu_node("cpus", 2, 1, 3);
  cpu.links.push_back(make_link(LinkKind::kPcie, {0, 1}, 6));
  const std::string cpu_link = build_error(make_cluster({cpu}));
  BOOST_TEST(contains(cpu_link, "lab.toml:6:3"));
  BOOST_TEST(contains(cpu_link, "CPU"));
  // RTX-4090 has no NVLink, so an NVLink link between them needs its own bandwidth.
  BOOST_TEST(contains(build_error(make_cluster({gpu_node("b", "RTX-4090", 2, 3,
                                                         {make_link(LinkKind::kNvlink, {0, 1}, 5)})})),
                      "bandwidth_gbps"));
  BOOST_TEST(contains(build_error(make_cluster({})), "lab.toml:1:1"));
}

BOOST_AUTO_TEST_CASE(totals_follow_the_catalog) {
  const Topology topology = build_ok(mixed_cluster());
  const DeviceCatalog catalog = builtin_catalog();
  const DeviceModel* rtx = catalog.find("RTX-3090");
  const DeviceModel* a100 = catalog.find("A100-80GB-SXM");
  const double overhead = 450;
  BOOST_TEST(topology.total_power_w(overhead) == 2 * rtx->tdp_w + 2 * a100->tdp_w + 2 * overhead);
  BOOST_TEST(topology.total_memory_gib() == 2 * rtx->memory_gib + 2 * a100->memory_gib);
  BOOST_TEST(topology.peak_tflops(PeakPrecision::kBf16) ==
             2 * rtx->peak_tflops.bf16 + 2 * a100->peak_tflops.bf16);
}

BOOST_AUTO_TEST_CASE(cpu_ranks_share_memory_and_scale_by_threads) {
  const Topology topology = build_ok(make_cluster({cpu_node("laptop", 2, 3, 3)}));
  const DeviceCatalog catalog = builtin_catalog();
  const DeviceModel* cpu = catalog.find("cpu");
  BOOST_REQUIRE(topology.world_size() == 2);
  BOOST_TEST(topology.device(1).cpu_threads == 3);
  BOOST_TEST(topology.islands().size() == 2u);

  const LinkInfo link = topology.link_between(0, 1);
  BOOST_TEST((link.link_class == LinkClass::kSharedMemory));
  BOOST_TEST(link.bandwidth_gbps == kSharedMemoryBandwidthGbps);
  BOOST_TEST(link.latency_us == kSharedMemoryLatencyUs);

  BOOST_TEST(topology.total_power_w(100) == 2 * 3 * cpu->tdp_w + 100);
  BOOST_TEST(topology.peak_tflops(PeakPrecision::kFp32) == 2 * 3 * cpu->peak_tflops.fp32,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(topology.total_memory_gib() == 2 * cpu->memory_gib);
}

// precision "auto" per device: bf16 where the card has it, else fp16, else fp32; CPU ranks fp32.
// A fixed precision is every device's. bf16 on a V100 is refused, naming it and offering auto.
BOOST_AUTO_TEST_CASE(auto_precision_is_the_best_each_card_has) {
  const Topology room = build_ok(make_cluster({gpu_node("old", "V100-32GB", 1, 5, {}),
                                               gpu_node("new", "A100-80GB-SXM", 1, 8, {}), cpu_node("cpu", 1, 2, 11)}));
  BOOST_REQUIRE(room.devices().size() == 3u);
  BOOST_TEST((device_precision(room.device(0), Precision::kAuto) == Precision::kFp16));
  BOOST_TEST((device_precision(room.device(1), Precision::kAuto) == Precision::kBf16));
  BOOST_TEST((device_precision(room.device(2), Precision::kAuto) == Precision::kFp32));
  BOOST_TEST((device_precision(room.device(0), Precision::kBf16) == Precision::kBf16));
  // The V100's fp16 peak, the A100's bf16 peak, the CPU's fp32 one.
  BOOST_TEST(training_peak_tflops(room.device(0), Precision::kAuto) == room.device(0).peak_tflops(PeakPrecision::kFp16));
  BOOST_TEST(training_peak_tflops(room.device(1), Precision::kAuto) == room.device(1).peak_tflops(PeakPrecision::kBf16));
  BOOST_TEST(training_peak_tflops(room.device(2), Precision::kAuto) == room.device(2).peak_tflops(PeakPrecision::kFp32));
  // A CPU stores bf16 but computes fp32: its fp32 peak counts at bf16 too.
  BOOST_TEST(training_peak_tflops(room.device(2), Precision::kBf16) == room.device(2).peak_tflops(PeakPrecision::kFp32));

  BOOST_TEST(check_precision_support(room, Precision::kAuto).ok());
  BOOST_TEST(check_precision_support(room, Precision::kFp16).ok());
  const Status bf16 = check_precision_support(room, Precision::kBf16);
  BOOST_REQUIRE(!bf16.ok());
  BOOST_TEST((bf16.error().kind() == ErrorKind::kInput));
  BOOST_TEST(contains(bf16.error().message(), "V100-32GB (on old) has no bf16 arithmetic"), bf16.error().message());
  BOOST_TEST(contains(bf16.error().message(), "train.precision = \"auto\""), bf16.error().message());
  BOOST_TEST(!contains(bf16.error().message(), "A100"), bf16.error().message());
}

}  // namespace
}  // namespace llmrt
