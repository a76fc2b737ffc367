// Built-in device figures (from vendor datasheets and whitepapers) and the catalog that merges
// them with the config's custom models.
#include "topology/device_catalog.h"

#include <algorithm>
#include <cctype>

#include "util/strings.h"

namespace llmrt {
namespace {

std::string lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

// Datasheets give bandwidth in GB/s per direction; llmrt counts Gbit/s per direction.
constexpr double from_gbytes(double gbytes_per_s) { return gbytes_per_s * 8; }

// NVIDIA datasheets quote tensor throughput "with sparsity"; llmrt plans dense matmuls.
constexpr double dense_from_sparse(double sparse_tflops) { return sparse_tflops / 2; }

// Figure conventions for every GPU entry:
// - memory: the nominal capacity, which for HBM and GDDR parts is a binary size (GiB);
// - NVLink: datasheets quote total bidirectional bandwidth, halved here to per direction;
// - PCIe x16 per direction: Gen3 ~16 GB/s, Gen4 ~32 GB/s, Gen5 ~64 GB/s.
std::vector<DeviceModel> builtin_models() {
  std::vector<DeviceModel> models;
  // NVIDIA Tesla V100 datasheet (SXM2) and Volta whitepaper: 15.7 fp32, 125 fp16 tensor;
  // no tf32 or bf16; 900 GB/s HBM2; 300 W; NVLink2 300 GB/s total; PCIe Gen3.
  const PeakTflops v100_peak{15.7, 0, 125, 0};
  models.push_back({"V100-16GB", false, 16, v100_peak, from_gbytes(900), 300,
                    from_gbytes(300.0 / 2), from_gbytes(16)});
  models.push_back({"V100-32GB", false, 32, v100_peak, from_gbytes(900), 300,
                    from_gbytes(300.0 / 2), from_gbytes(16)});
  // Same datasheet, PCIe: 14 fp32, 112 fp16 tensor; 900 GB/s; 250 W; no NVLink; PCIe Gen3.
  const PeakTflops v100_pcie_peak{14, 0, 112, 0};
  models.push_back({"V100-16GB-PCIE", false, 16, v100_pcie_peak, from_gbytes(900), 250, 0, from_gbytes(16)});
  models.push_back({"V100-32GB-PCIE", false, 32, v100_pcie_peak, from_gbytes(900), 250, 0, from_gbytes(16)});
  // NVIDIA A100 Tensor Core GPU datasheet: 19.5 fp32, 156 tf32, 312 fp16/bf16 (dense);
  // NVLink3 600 GB/s total (the PCIe cards through the 2-GPU NVLink bridge); PCIe Gen4.
  const PeakTflops a100_peak{19.5, 156, 312, 312};
  models.push_back({"A100-40GB-SXM", false, 40, a100_peak, from_gbytes(1555), 400,
                    from_gbytes(600.0 / 2), from_gbytes(32)});
  models.push_back({"A100-80GB-SXM", false, 80, a100_peak, from_gbytes(2039), 400,
                    from_gbytes(600.0 / 2), from_gbytes(32)});
  models.push_back({"A100-40GB-PCIE", false, 40, a100_peak, from_gbytes(1555), 250,
                    from_gbytes(600.0 / 2), from_gbytes(32)});
  models.push_back({"A100-80GB-PCIE", false, 80, a100_peak, from_gbytes(1935), 300,
                    from_gbytes(600.0 / 2), from_gbytes(32)});
  // NVIDIA H100 Tensor Core GPU datasheet, SXM: 67 fp32, 989 tf32 / 1979 fp16 and bf16 with
  // sparsity; 3.35 TB/s; up to 700 W; NVLink4 900 GB/s total; PCIe Gen5.
  models.push_back({"H100-SXM", false, 80,
                    {67, dense_from_sparse(989), dense_from_sparse(1979), dense_from_sparse(1979)},
                    from_gbytes(3350), 700, from_gbytes(900.0 / 2), from_gbytes(64)});
  // Same datasheet, PCIe: 51 fp32, 756 tf32 / 1513 fp16 and bf16 with sparsity; 2 TB/s;
  // 300-350 W (the upper figure); NVLink bridge 600 GB/s total; PCIe Gen5.
  models.push_back({"H100-PCIE", false, 80,
                    {51, dense_from_sparse(756), dense_from_sparse(1513), dense_from_sparse(1513)},
                    from_gbytes(2000), 350, from_gbytes(600.0 / 2), from_gbytes(64)});
  // NVIDIA H200 Tensor Core GPU datasheet, SXM: compute as H100 SXM; 141 GB HBM3e at
  // 4.8 TB/s; up to 700 W; NVLink 900 GB/s total; PCIe Gen5.
  models.push_back({"H200", false, 141,
                    {67, dense_from_sparse(989), dense_from_sparse(1979), dense_from_sparse(1979)},
                    from_gbytes(4800), 700, from_gbytes(900.0 / 2), from_gbytes(64)});
  // NVIDIA Ampere GA102 GPU Architecture whitepaper, RTX 3090: 35.6 fp32; dense tensor with
  // FP32 accumulate: 35.6 tf32, 71 fp16, 71 bf16; 936 GB/s GDDR6X; 350 W; NVLink bridge
  // 112.5 GB/s total; PCIe Gen4.
  models.push_back({"RTX-3090", false, 24, {35.6, 35.6, 71, 71}, from_gbytes(936), 350,
                    from_gbytes(112.5 / 2), from_gbytes(32)});
  // NVIDIA Ada GPU Architecture whitepaper, RTX 4090: 82.6 fp32; dense tensor with FP32
  // accumulate: 82.6 tf32, 165.2 fp16, 165.2 bf16; 1008 GB/s; 450 W; no NVLink; PCIe Gen4.
  models.push_back({"RTX-4090", false, 24, {82.6, 82.6, 165.2, 165.2}, from_gbytes(1008), 450, 0,
                    from_gbytes(32)});
  // NVIDIA L40S datasheet: 91.6 fp32; 366 tf32 / 733 fp16 and bf16 with sparsity; 48 GB
  // GDDR6 at 864 GB/s; 350 W; no NVLink; PCIe Gen4.
  models.push_back({"L40S", false, 48,
                    {91.6, dense_from_sparse(366), dense_from_sparse(733), dense_from_sparse(733)},
                    from_gbytes(864), 350, 0, from_gbytes(32)});
  // One CPU rank, figures per thread (assumptions, not a datasheet): fp32 0.1 TFLOP/s from
  // OpenBLAS sgemm measured on the dev machine (~205 GFLOP/s on 2 cores); no fast fp16,
  // bf16 or tf32 path; 8 GiB per rank; ~10 GB/s of DRAM bandwidth and ~10 W per thread
  // (a 200 W, 16-core/32-thread server part is ~6 W; desktops run higher).
  models.push_back({"cpu", true, 8, {0.1, 0, 0, 0}, from_gbytes(10), 10, 0, 0});
  return models;
}

Status check_custom_model(const DeviceModelSpec& spec) {
  const PeakTflops& peak = spec.peak_tflops;
  if (spec.name.empty()) {
    return input_error("{}: a [[cluster.device_model]] needs a name", spec.pos.describe());
  }
  if (spec.memory_gib <= 0) {
    return input_error("{}: device model \"{}\": memory_gib = {} must be positive",
                       spec.pos.describe(), spec.name, spec.memory_gib);
  }
  if (peak.fp32 < 0 || peak.tf32 < 0 || peak.fp16 < 0 || peak.bf16 < 0) {
    return input_error("{}: device model \"{}\": peak_tflops must not be negative",
                       spec.pos.describe(), spec.name);
  }
  if (peak.fp32 == 0 && peak.tf32 == 0 && peak.fp16 == 0 && peak.bf16 == 0) {
    return input_error(
        "{}: device model \"{}\": every peak_tflops is 0; give at least one of fp32, tf32, "
        "fp16, bf16",
        spec.pos.describe(), spec.name);
  }
  if (spec.memory_bandwidth_gbps < 0 || spec.tdp_w < 0 || spec.nvlink_bandwidth_gbps < 0 ||
      spec.pcie_bandwidth_gbps < 0) {
    return input_error(
        "{}: device model \"{}\": memory_bandwidth_gbps, tdp_w, nvlink_bandwidth_gbps and "
        "pcie_bandwidth_gbps must not be negative",
        spec.pos.describe(), spec.name);
  }
  return Status::success();
}

}  // namespace

double peak_of(const PeakTflops& peak, PeakPrecision precision) {
  switch (precision) {
    case PeakPrecision::kFp32: return peak.fp32;
    case PeakPrecision::kTf32: return peak.tf32;
    case PeakPrecision::kFp16: return peak.fp16;
    case PeakPrecision::kBf16: return peak.bf16;
  }
  return 0;
}

std::string_view peak_precision_name(PeakPrecision precision) {
  switch (precision) {
    case PeakPrecision::kFp32: return "fp32";
    case PeakPrecision::kTf32: return "tf32";
    case PeakPrecision::kFp16: return "fp16";
    case PeakPrecision::kBf16: return "bf16";
  }
  return "?";
}

PeakPrecision peak_precision_for(Precision train_precision) {
  switch (train_precision) {
    case Precision::kFp32: return PeakPrecision::kFp32;
    case Precision::kBf16: return PeakPrecision::kBf16;
    case Precision::kFp16: return PeakPrecision::kFp16;
    case Precision::kAuto: break;  // resolved per device first (topology.h device_precision)
  }
  return PeakPrecision::kFp32;
}

Result<DeviceCatalog> DeviceCatalog::build(const std::vector<DeviceModelSpec>& custom) {
  DeviceCatalog catalog;
  for (DeviceModel& model : builtin_models()) catalog.put(std::move(model));

  std::map<std::string, const DeviceModelSpec*> seen;  // lowercased name -> first spec
  for (const DeviceModelSpec& spec : custom) {
    LLMRT_RETURN_IF_ERROR(check_custom_model(spec));
    auto [first, inserted] = seen.emplace(lowercase(spec.name), &spec);
    if (!inserted) {
      return input_error("{}: device model \"{}\" is defined twice (first at {})",
                         spec.pos.describe(), spec.name, first->second->pos.describe());
    }
    // An override keeps what the config cannot say: whether the model is a CPU rank.
    const DeviceModel* replaced = catalog.find(spec.name);
    catalog.put(DeviceModel{spec.name, replaced != nullptr && replaced->is_cpu, spec.memory_gib,
                            spec.peak_tflops, spec.memory_bandwidth_gbps, spec.tdp_w,
                            spec.nvlink_bandwidth_gbps, spec.pcie_bandwidth_gbps});
  }
  return catalog;
}

void DeviceCatalog::put(DeviceModel model) {
  const std::string key = lowercase(model.name);
  auto shared = std::make_shared<const DeviceModel>(std::move(model));
  auto found = index_by_lower_name_.find(key);
  if (found != index_by_lower_name_.end()) {
    models_[found->second] = std::move(shared);
  } else {
    index_by_lower_name_.emplace(key, models_.size());
    models_.push_back(std::move(shared));
  }
}

const DeviceModel* DeviceCatalog::find(std::string_view name) const {
  return find_shared(name).get();
}

std::shared_ptr<const DeviceModel> DeviceCatalog::find_shared(std::string_view name) const {
  auto found = index_by_lower_name_.find(lowercase(name));
  return found == index_by_lower_name_.end() ? nullptr : models_[found->second];
}

std::vector<std::string> DeviceCatalog::names() const {
  std::vector<std::string> names;
  names.reserve(models_.size());
  for (const auto& model : models_) names.push_back(model->name);
  return names;
}

std::vector<std::string> DeviceCatalog::gpu_names() const {
  std::vector<std::string> names;
  for (const auto& model : models_) {
    if (!model->is_cpu) names.push_back(model->name);
  }
  return names;
}

std::string DeviceCatalog::closest_name(std::string_view name,
                                        const std::vector<std::string>& candidates) {
  std::vector<std::string> lower_candidates;
  for (const std::string& candidate : candidates) lower_candidates.push_back(lowercase(candidate));
  const std::string match = closest_match(lowercase(name), lower_candidates);
  if (match.empty()) return match;
  const auto position = std::find(lower_candidates.begin(), lower_candidates.end(), match);
  return candidates[position - lower_candidates.begin()];
}

}  // namespace llmrt
