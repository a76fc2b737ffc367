// The built-in device catalog's figures and the merging of [[cluster.device_model]] entries.
#define BOOST_TEST_MODULE topology_catalog
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "topology/cluster_fixtures.h"
#include "topology/device_catalog.h"

namespace llmrt {
namespace {

DeviceCatalog builtin_catalog() {
  auto catalog = DeviceCatalog::build({});
  BOOST_REQUIRE_MESSAGE(catalog.ok(), testing::error_text(catalog));
  return std::move(catalog.value());
}

DeviceModelSpec custom_model(std::string name, double memory_gib, PeakTflops peak, int line) {
  DeviceModelSpec spec;
  spec.name = std::move(name);
  spec.memory_gib = memory_gib;
  spec.peak_tflops = peak;
  spec.memory_bandwidth_gbps = 7200;
  spec.tdp_w = 300;
  spec.pos = SourcePos{"lab.toml", line, 1, "cluster.device_model"};
  return spec;
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

BOOST_AUTO_TEST_CASE(every_builtin_entry_is_usable) {
  const DeviceCatalog catalog = builtin_catalog();
  const std::vector<std::string> names = catalog.names();
  BOOST_TEST(names.size() == 15u);
  for (const std::string& name : names) {
    BOOST_TEST_CONTEXT(name) {
      const DeviceModel* model = catalog.find(name);
      BOOST_REQUIRE(model != nullptr);
      BOOST_TEST(model->name == name);
      BOOST_TEST(model->memory_gib > 0);
      BOOST_TEST(model->memory_bandwidth_gbps > 0);
      BOOST_TEST(model->tdp_w > 0);
      const PeakTflops& peak = model->peak_tflops;
      BOOST_TEST(std::max({peak.fp32, peak.tf32, peak.fp16, peak.bf16}) > 0);
      BOOST_TEST(model->is_cpu == (name == "cpu"));
      if (!model->is_cpu) BOOST_TEST(model->pcie_bandwidth_gbps > 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(volta_has_no_bf16_or_tf32) {
  const DeviceCatalog catalog = builtin_catalog();
  for (const char* name : {"V100-16GB", "V100-32GB", "V100-16GB-PCIE", "V100-32GB-PCIE"}) {
    const DeviceModel* model = catalog.find(name);
    BOOST_REQUIRE(model != nullptr);
    BOOST_TEST(model->peak_tflops.bf16 == 0);
    BOOST_TEST(model->peak_tflops.tf32 == 0);
    BOOST_TEST(model->peak_tflops.fp16 > model->peak_tflops.fp32);
  }
}

// Issue #12: the catalog's PCIe cards draw less than their SXM twins (datasheet TDPs), at
// the same or lower peak, and have no NVLink unless a bridge exists for them.
BOOST_AUTO_TEST_CASE(pcie_variants_draw_less_than_their_sxm_twins) {
  const DeviceCatalog catalog = builtin_catalog();
  const std::vector<std::pair<const char*, const char*>> twins{
      {"V100-16GB-PCIE", "V100-16GB"}, {"V100-32GB-PCIE", "V100-32GB"}, {"A100-40GB-PCIE", "A100-40GB-SXM"},
      {"A100-80GB-PCIE", "A100-80GB-SXM"}, {"H100-PCIE", "H100-SXM"}};
  for (const auto& [pcie_name, sxm_name] : twins) {
    const DeviceModel* pcie = catalog.find(pcie_name);
    const DeviceModel* sxm = catalog.find(sxm_name);
    BOOST_REQUIRE(pcie != nullptr);
    BOOST_REQUIRE(sxm != nullptr);
    BOOST_TEST_CONTEXT(pcie_name) {
      BOOST_TEST(pcie->tdp_w < sxm->tdp_w);
      BOOST_TEST(pcie->peak_tflops.fp16 <= sxm->peak_tflops.fp16);
      BOOST_TEST(pcie->memory_gib == sxm->memory_gib);
    }
  }
  BOOST_TEST(catalog.find("V100-32GB-PCIE")->tdp_w == 250);  // V100 PCIe datasheet
  BOOST_TEST(catalog.find("V100-32GB-PCIE")->nvlink_bandwidth_gbps == 0);
}

BOOST_AUTO_TEST_CASE(datacenter_tensor_cores_beat_fp32) {
  const DeviceCatalog catalog = builtin_catalog();
  int checked = 0;
  for (const std::string& name : catalog.names()) {
    if (!starts_with(name, "A100") && !starts_with(name, "H100") && !starts_with(name, "H200")) {
      continue;
    }
    const DeviceModel* model = catalog.find(name);
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(model->peak_tflops.bf16 > model->peak_tflops.fp32);
      BOOST_TEST(model->peak_tflops.tf32 > model->peak_tflops.fp32);
      BOOST_TEST(model->nvlink_bandwidth_gbps > model->pcie_bandwidth_gbps);
    }
    ++checked;
  }
  BOOST_TEST(checked == 7);
}

// Bandwidths are Gbit/s per direction: the A100 80GB datasheet's 2039 GB/s HBM, 600 GB/s
// bidirectional NVLink and PCIe 4.0 x16 (~32 GB/s per direction), times 8.
BOOST_AUTO_TEST_CASE(bandwidths_are_gigabits_per_direction) {
  const DeviceCatalog catalog = builtin_catalog();
  const DeviceModel* a100 = catalog.find("A100-80GB-SXM");
  BOOST_REQUIRE(a100 != nullptr);
  BOOST_TEST(a100->memory_bandwidth_gbps == 2039 * 8.0);
  BOOST_TEST(a100->nvlink_bandwidth_gbps == 600 / 2 * 8.0);
  BOOST_TEST(a100->pcie_bandwidth_gbps == 32 * 8.0);
  BOOST_TEST(catalog.find("RTX-4090")->nvlink_bandwidth_gbps == 0);
}

BOOST_AUTO_TEST_CASE(lookup_ignores_case) {
  const DeviceCatalog catalog = builtin_catalog();
  const DeviceModel* exact = catalog.find("A100-80GB-SXM");
  BOOST_REQUIRE(exact != nullptr);
  BOOST_TEST(catalog.find("a100-80gb-sxm") == exact);
  BOOST_TEST(catalog.find("CPU") == catalog.find("cpu"));
  BOOST_TEST(catalog.find("A100") == nullptr);
  const std::vector<std::string> gpus = catalog.gpu_names();
  BOOST_TEST(gpus.size() + 1 == catalog.names().size());
  BOOST_TEST((std::find(gpus.begin(), gpus.end(), "cpu") == gpus.end()));
  BOOST_TEST(DeviceCatalog::closest_name("a100-80g-sxm", gpus) == "A100-80GB-SXM");
  BOOST_TEST(DeviceCatalog::closest_name("rtx-4009", gpus) == "RTX-4090");
  BOOST_TEST(DeviceCatalog::closest_name("Quantum-9000", gpus) == "");
}

BOOST_AUTO_TEST_CASE(custom_models_override_and_extend) {
  const DeviceCatalog builtin = builtin_catalog();
  DeviceModelSpec override_spec = custom_model("rtx-4090", 48, {100, 0, 200, 200}, 10);
  override_spec.pcie_bandwidth_gbps = 512;
  auto catalog = DeviceCatalog::build({override_spec, custom_model("MyCard", 64, {0, 0, 0, 150}, 20)});
  BOOST_REQUIRE_MESSAGE(catalog.ok(), testing::error_text(catalog));

  const DeviceModel* overridden = catalog->find("RTX-4090");
  BOOST_REQUIRE(overridden != nullptr);
  BOOST_TEST(overridden->memory_gib == 48);
  BOOST_TEST(overridden->peak_tflops.bf16 == 200);
  BOOST_TEST(overridden->pcie_bandwidth_gbps == 512);
  BOOST_TEST(!overridden->is_cpu);

  const DeviceModel* added = catalog->find("mycard");
  BOOST_REQUIRE(added != nullptr);
  BOOST_TEST(added->name == "MyCard");
  BOOST_TEST(added->pcie_bandwidth_gbps == DeviceModelSpec{}.pcie_bandwidth_gbps);
  BOOST_TEST(catalog->names().size() == builtin.names().size() + 1);
  BOOST_TEST(catalog->names().back() == "MyCard");
  // Overriding the CPU entry keeps it a CPU rank (the config has no key for that).
  auto cpu_override = DeviceCatalog::build({custom_model("CPU", 16, {0.2, 0, 0, 0}, 30)});
  BOOST_REQUIRE(cpu_override.ok());
  BOOST_TEST(cpu_override->find("cpu")->is_cpu);
  BOOST_TEST(cpu_override->find("cpu")->memory_gib == 16);
  // The catalog the override came from is untouched.
  BOOST_TEST(builtin.find("RTX-4090")->memory_gib == 24);
}

BOOST_AUTO_TEST_CASE(custom_model_errors_name_the_position) {
  auto duplicate = DeviceCatalog::build(
      {custom_model("MyCard", 64, {1, 0, 0, 0}, 20), custom_model("mycard", 32, {1, 0, 0, 0}, 27)});
  BOOST_REQUIRE(!duplicate.ok());
  BOOST_TEST((duplicate.error().kind() == ErrorKind::kInput));
  BOOST_TEST(duplicate.error().message().find("lab.toml:27:1") != std::string::npos);
  BOOST_TEST(duplicate.error().message().find("lab.toml:20:1") != std::string::npos);
  BOOST_TEST(duplicate.error().message().find("twice") != std::string::npos);

  auto no_memory = DeviceCatalog::build({custom_model("MyCard", 0, {1, 0, 0, 0}, 31)});
  BOOST_REQUIRE(!no_memory.ok());
  BOOST_TEST(no_memory.error().message().find("lab.toml:31:1") != std::string::npos);
  BOOST_TEST(no_memory.error().message().find("memory_gib") != std::string::npos);

  auto no_peak = DeviceCatalog::build({custom_model("MyCard", 16, {0, 0, 0, 0}, 42)});
  BOOST_REQUIRE(!no_peak.ok());
  BOOST_TEST(no_peak.error().message().find("lab.toml:42:1") != std::string::npos);
  BOOST_TEST(no_peak.error().message().find("peak_tflops") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(training_precision_selects_its_peak) {
  const PeakTflops peak{1, 2, 3, 4};
  BOOST_TEST(peak_of(peak, peak_precision_for(Precision::kFp32)) == 1);
  BOOST_TEST(peak_of(peak, PeakPrecision::kTf32) == 2);
  BOOST_TEST(peak_of(peak, peak_precision_for(Precision::kFp16)) == 3);
  BOOST_TEST(peak_of(peak, peak_precision_for(Precision::kBf16)) == 4);
}

}  // namespace
}  // namespace llmrt
