// The metrics endpoint's page: Prometheus text format 0.0.4 (HELP and TYPE before each family,
// base units, `_total` counters, one histogram), from what rank 0 knows after each step and what
// the GPUs of its host read. Pure: the endpoint (obs/prometheus_endpoint.h) serves it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "obs/gpu_reader.h"

namespace llmrt::obs {

// Wall time of one optimizer step. Bounds in seconds: from a small CPU model's milliseconds to a
// large pipeline's minute.
class StepDurationHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   25,  60,  120};
  void observe(double seconds);
  // Cumulative: [i] counts the steps at most kBounds[i]; count() is the +Inf bucket.
  const std::array<std::uint64_t, kBounds.size()>& cumulative() const { return cumulative_; }
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::array<std::uint64_t, kBounds.size()> cumulative_{};
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// One completed optimizer step as rank 0 reports it.
struct StepSample {
  double loss = 0;
  double learning_rate = 0;
  double grad_norm = 0;
  double seconds = 0;             // wall time of the step
  double tokens = 0;              // trained this step, all replicas
  double tokens_per_second = 0;
  double mfu_ratio = 0;
};

// The training side of the page, updated once per step.
struct TrainingMetrics {
  void record(const StepSample& step);

  std::int64_t steps_total = 0;  // optimizer steps this process completed
  double tokens_total = 0;       // tokens they trained, all replicas
  bool any_step = false;         // the gauges below hold a step's values
  double loss = 0;
  double learning_rate = 0;
  double grad_norm = 0;
  double tokens_per_second = 0;
  double mfu_ratio = 0;
  StepDurationHistogram step_duration;
  std::optional<double> pipeline_bubble_ratio;  // the planner's predicted idle share, when it chose the layout
};

// The whole page. GPU series carry DCGM's labels gpu, UUID, modelName and Hostname (`host`).
std::string format_prometheus_text(const TrainingMetrics& training, const std::vector<GpuReading>& gpus,
                                   std::string_view host);

// Every metric name the page can hold (histogram series as their family name), for the
// dashboard's test and the docs.
std::vector<std::string> exported_metric_names();

// A sample value as Go's ParseFloat reads it: "NaN", "+Inf", "-Inf", else the shortest exact form.
std::string format_sample_value(double value);
// A label value with \\, \" and \n escaped.
std::string escape_label_value(std::string_view value);

}  // namespace llmrt::obs
