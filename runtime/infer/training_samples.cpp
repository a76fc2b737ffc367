#include "infer/training_samples.h"

#include <chrono>

#include <fmt/format.h>

#include "infer/gather_model.h"
#include "infer/inference_model.h"
#include "infer/sampler.h"

namespace llmrt {

constexpr std::int64_t kSampleTokens = 64;
constexpr double kSampleTemperature = 0.8;
constexpr std::int64_t kSampleTopK = 40;

std::string escaped_line(const std::string& text) {
  std::string line;
  for (unsigned char c : text) {
    if (c == '\n') line += "\\n";
    else if (c == '\t') line += "\\t";
    else if (c == '\\') line += "\\\\";
    else if (c >= 0x20 && c < 0x7f) line.push_back(static_cast<char>(c));
    else line += fmt::format("\\x{:02x}", c);
  }
  return line;
}

Result<double> TrainingSamples::after_step(std::int64_t step, Trainer& trainer, std::ostream& out) {
  const std::int64_t every = spec_->metrics.sample_every;
  if (every <= 0 || step % every != 0) return 0.0;
  const auto start = std::chrono::steady_clock::now();
  LLMRT_ASSIGN_OR_RETURN(auto tensors, gather_model(spec_->model, *registry_, trainer.params(), trainer.groups()));
  if (!tensors) return 0.0;  // not rank 0
  const std::string source = fmt::format("step {} weights", step);
  if (!model_) {
    LLMRT_ASSIGN_OR_RETURN(InferenceModel model, InferenceModel::create(spec_->model, *registry_, *tensors, source));
    model_ = std::make_unique<InferenceModel>(std::move(model));
  } else {
    LLMRT_RETURN_IF_ERROR(model_->load(*tensors, source));
  }
  const SampleOptions options{kSampleTokens, kSampleTemperature, kSampleTopK,
                              spec_->train.seed + static_cast<std::uint64_t>(step)};
  const std::vector<std::int32_t> prompt = byte_tokens(spec_->metrics.sample_prompt);
  LLMRT_ASSIGN_OR_RETURN(std::vector<std::int32_t> generated, generate(*model_, prompt, options));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out << fmt::format("step {} sample ({:.2f} s): {}{}\n", step, seconds, escaped_line(spec_->metrics.sample_prompt),
                     escaped_line(token_text(generated)))
      << std::flush;
  return seconds;
}

}  // namespace llmrt
