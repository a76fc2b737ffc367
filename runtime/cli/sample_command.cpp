// `llmrt sample` and `llmrt ckpt export --format hf`: a model file in, text or a Hugging Face
// folder out, on this process's CPU (no launcher needed).
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "ckpt/ckpt_commands.h"
#include "cli/commands.h"
#include "infer/hf_gpt2.h"
#include "infer/inference_model.h"
#include "infer/model_source.h"
#include "infer/sampler.h"

namespace llmrt {

Status sample_command(const CliOptions& options) {
  const SampleOptions sample{options.sample_tokens, options.sample_temperature, options.sample_top_k,
                             options.sample_seed};
  if (options.sample_prompt.empty()) return input_error("--prompt: expected at least one character");
  if (std::string problem = sample_options_problem(sample); !problem.empty()) return input_error("{}", problem);
  LLMRT_ASSIGN_OR_RETURN(ModelSource source, open_model_source(options.model_source, options.model_config,
                                                               options.allow_insecure_plugins));
  if (source.spec.model.vocab_size.value < 256) {
    return input_error("{}: vocab_size = {}: sampling reads the prompt as bytes, which needs vocab_size >= 256",
                       source.path, source.spec.model.vocab_size.value);
  }
  LLMRT_ASSIGN_OR_RETURN(InferenceModel model,
                         InferenceModel::create(source.spec.model, source.registry, source.tensors, source.path));
  std::cout << options.sample_prompt << std::flush;
  const std::vector<std::int32_t> prompt = byte_tokens(options.sample_prompt);
  LLMRT_ASSIGN_OR_RETURN(auto generated, generate(model, prompt, sample, [](std::int32_t token) {
                           std::cout << token_text(std::span(&token, 1)) << std::flush;
                         }));
  (void)generated;
  std::cout << "\n";
  return Status::success();
}

Status export_command(const CliOptions& options) {
  if (options.export_format != "hf") {
    // One consolidated safetensors file of a checkpoint's global parameters.
    if (!std::filesystem::is_directory(options.model_source)) {
      return input_error("ckpt export {}: not a checkpoint folder (a step folder or a checkpoint.dir); a model file "
                         "is already consolidated (--format hf converts it)", options.model_source);
    }
    return export_checkpoint(options.model_source, options.export_output, std::cout);
  }
  LLMRT_ASSIGN_OR_RETURN(ModelSource source, open_model_source(options.model_source, options.model_config,
                                                               options.allow_insecure_plugins));
  LLMRT_RETURN_IF_ERROR_CTX(write_hf_gpt2(source.tensors, source.spec.model, source.registry, options.export_output),
                            "{}", source.path);
  std::cout << fmt::format("wrote {}/config.json and {}/model.safetensors (GPT2LMHeadModel)\n", options.export_output,
                           options.export_output);
  return Status::success();
}

}  // namespace llmrt
