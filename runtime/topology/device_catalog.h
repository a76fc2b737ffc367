// The device catalog: what each card (or CPU rank) can do — memory, peak throughput, power,
// link bandwidths — from built-in datasheet figures plus the config's [[cluster.device_model]].
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/spec.h"
#include "util/status.h"

namespace llmrt {

// One device model. Every bandwidth is Gbit/s per direction (1 GB/s = 8 Gbit/s).
// For the "cpu" entry (is_cpu) peak_tflops, memory_bandwidth_gbps and tdp_w are per thread
// and memory_gib is per rank; Device scales them by the rank's thread count.
struct DeviceModel {
  std::string name;
  bool is_cpu = false;
  double memory_gib = 0;
  PeakTflops peak_tflops;  // dense (no structured sparsity), TFLOP/s
  double memory_bandwidth_gbps = 0;
  double tdp_w = 0;
  double nvlink_bandwidth_gbps = 0;  // per device, per direction; 0 = no NVLink
  double pcie_bandwidth_gbps = 0;    // the card's host interface, per direction
};

// The precisions a peak figure exists for (PeakTflops has one field each).
enum class PeakPrecision { kFp32, kTf32, kFp16, kBf16 };

double peak_of(const PeakTflops& peak, PeakPrecision precision);
std::string_view peak_precision_name(PeakPrecision precision);

// The peak that bounds matmuls at a training precision: fp32 training counts plain fp32,
// since TF32 changes numerics and is a choice the planner makes explicitly.
PeakPrecision peak_precision_for(Precision train_precision);

// The models a cluster may name: built-ins, replaced or extended by custom models.
// Copies share the same immutable models, so a DeviceModel* stays valid while any copy
// (or a Topology built from one) lives.
class DeviceCatalog {
 public:
  // The built-ins plus `custom` ([[cluster.device_model]]); a custom model with a built-in's
  // name (case-insensitive) replaces it. Errors name the offending model's pos.
  static Result<DeviceCatalog> build(const std::vector<DeviceModelSpec>& custom);

  // Case-insensitive; nullptr when absent.
  const DeviceModel* find(std::string_view name) const;
  // The shared handle behind find(), for holders that must keep the model alive.
  std::shared_ptr<const DeviceModel> find_shared(std::string_view name) const;

  // Display names: built-ins in catalog order, then added custom models.
  std::vector<std::string> names() const;
  // The same without the CPU entry: what a node's gpus.model may name.
  std::vector<std::string> gpu_names() const;

  // The candidate closest to `name`, ignoring case, when it looks like a typo, else "".
  static std::string closest_name(std::string_view name, const std::vector<std::string>& candidates);

 private:
  std::vector<std::shared_ptr<const DeviceModel>> models_;
  std::map<std::string, std::size_t> index_by_lower_name_;

  void put(DeviceModel model);
};

}  // namespace llmrt
