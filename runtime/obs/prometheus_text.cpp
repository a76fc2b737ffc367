#include "obs/prometheus_text.h"

#include <cmath>

#include <fmt/format.h>

namespace llmrt::obs {
namespace {

struct Family {
  const char* name;
  const char* type;
  const char* help;
};

constexpr Family kSteps{"llmrt_steps_total", "counter", "Optimizer steps this process completed."};
constexpr Family kTokens{"llmrt_tokens_total", "counter", "Tokens trained by the steps this process completed, all replicas."};
constexpr Family kLoss{"llmrt_loss", "gauge", "Training loss of the last step (mean over its microbatches and replicas)."};
constexpr Family kLearningRate{"llmrt_learning_rate", "gauge", "Learning rate of the last step."};
constexpr Family kGradNorm{"llmrt_grad_norm", "gauge", "Global gradient norm of the last step, before clipping."};
constexpr Family kStepDuration{"llmrt_step_duration_seconds", "histogram", "Wall time of one optimizer step."};
constexpr Family kTokensPerSecond{"llmrt_tokens_per_second", "gauge", "Tokens per second of the last step, all replicas."};
constexpr Family kMfu{"llmrt_mfu_ratio", "gauge", "Model FLOPs utilization of the last step on rank 0's device(s), 0-1."};
constexpr Family kBubble{"llmrt_pipeline_bubble_ratio", "gauge",
                         "Idle share of the pipeline the planner predicted for this layout, 0-1."};

// Per GPU, with DCGM's label names.
struct GpuFamily {
  Family family;
  std::optional<double> GpuReading::*field;
};
const GpuFamily kGpuFamilies[] = {
    {{"llmrt_gpu_utilization_ratio", "gauge", "Share of the last sample period a kernel ran on the GPU, 0-1 (NVML)."},
     &GpuReading::utilization_ratio},
    {{"llmrt_gpu_memory_used_bytes", "gauge", "GPU memory in use, all processes (NVML)."}, &GpuReading::memory_used_bytes},
    {{"llmrt_gpu_temperature_celsius", "gauge", "GPU die temperature (NVML)."}, &GpuReading::temperature_celsius},
    {{"llmrt_gpu_power_watts", "gauge", "GPU power draw (NVML)."}, &GpuReading::power_watts},
    {{"llmrt_gpu_energy_joules_total", "counter", "GPU energy since the driver loaded (NVML)."},
     &GpuReading::energy_joules},
};

void put_header(std::string& out, const Family& family) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.name, family.help, family.name, family.type);
}

void put_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out += name;
  if (!labels.empty()) out += fmt::format("{{{}}}", labels);
  out += ' ';
  out += format_sample_value(value);
  out += '\n';
}

void put_single(std::string& out, const Family& family, double value) {
  put_header(out, family);
  put_sample(out, family.name, "", value);
}

void put_histogram(std::string& out, const StepDurationHistogram& histogram) {
  put_header(out, kStepDuration);
  const std::string bucket = std::string(kStepDuration.name) + "_bucket";
  for (std::size_t i = 0; i < StepDurationHistogram::kBounds.size(); ++i) {
    put_sample(out, bucket, fmt::format("le=\"{}\"", format_sample_value(StepDurationHistogram::kBounds[i])),
               static_cast<double>(histogram.cumulative()[i]));
  }
  put_sample(out, bucket, "le=\"+Inf\"", static_cast<double>(histogram.count()));
  put_sample(out, std::string(kStepDuration.name) + "_sum", "", histogram.sum());
  put_sample(out, std::string(kStepDuration.name) + "_count", "", static_cast<double>(histogram.count()));
}

void put_gpus(std::string& out, const std::vector<GpuReading>& gpus, std::string_view host) {
  for (const GpuFamily& gpu_family : kGpuFamilies) {
    bool header_written = false;
    for (const GpuReading& gpu : gpus) {
      const std::optional<double>& value = gpu.*gpu_family.field;
      if (!value) continue;
      if (!header_written) put_header(out, gpu_family.family);
      header_written = true;
      put_sample(out, gpu_family.family.name,
                 fmt::format("gpu=\"{}\",UUID=\"{}\",modelName=\"{}\",Hostname=\"{}\"", gpu.index,
                             escape_label_value(gpu.uuid), escape_label_value(gpu.model_name), escape_label_value(host)),
                 *value);
    }
  }
}

}  // namespace

void StepDurationHistogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++cumulative_[i];
  }
  ++count_;
  sum_ += seconds;
}

void TrainingMetrics::record(const StepSample& step) {
  ++steps_total;
  tokens_total += step.tokens;
  any_step = true;
  loss = step.loss;
  learning_rate = step.learning_rate;
  grad_norm = step.grad_norm;
  tokens_per_second = step.tokens_per_second;
  mfu_ratio = step.mfu_ratio;
  step_duration.observe(step.seconds);
}

std::string format_sample_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_prometheus_text(const TrainingMetrics& training, const std::vector<GpuReading>& gpus,
                                   std::string_view host) {
  std::string out;
  put_single(out, kSteps, static_cast<double>(training.steps_total));
  put_single(out, kTokens, training.tokens_total);
  if (training.any_step) {  // no step yet: no value to show rather than a made-up one
    put_single(out, kLoss, training.loss);
    put_single(out, kLearningRate, training.learning_rate);
    put_single(out, kGradNorm, training.grad_norm);
    put_single(out, kTokensPerSecond, training.tokens_per_second);
    put_single(out, kMfu, training.mfu_ratio);
  }
  put_histogram(out, training.step_duration);
  if (training.pipeline_bubble_ratio) put_single(out, kBubble, *training.pipeline_bubble_ratio);
  put_gpus(out, gpus, host);
  return out;
}

std::vector<std::string> exported_metric_names() {
  std::vector<std::string> names;
  for (const Family* family : {&kSteps, &kTokens, &kLoss, &kLearningRate, &kGradNorm, &kStepDuration,
                               &kTokensPerSecond, &kMfu, &kBubble}) {
    names.emplace_back(family->name);
  }
  for (const GpuFamily& gpu_family : kGpuFamilies) names.emplace_back(gpu_family.family.name);
  return names;
}

}  // namespace llmrt::obs
