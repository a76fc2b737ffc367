// The llmrt_gpt plugin: registers the GPT-2 layers (embedding, block, head) with the host.
#include "gpt/gpt_layers.h"

LLMRT_PLUGIN("llmrt-gpt", "0.1.0") {
  registrar.add_layer<llmrt::gpt::Embedding>("gpt.embedding", "0.1.0",
                                             "token + learned position embedding: (B, T) i32 -> (B, T, C)");
  registrar.add_layer<llmrt::gpt::Block>("gpt.block", "0.1.0",
                                         "GPT-2 pre-LayerNorm attention + MLP block, Megatron tensor parallel");
  registrar.add_layer<llmrt::gpt::Head>("gpt.head", "0.1.0",
                                        "final LayerNorm, output projection (tied to wte or not), mean cross-entropy");
}
