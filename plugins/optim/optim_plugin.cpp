// The llmrt_optim plugin: AdamW and SGD with PyTorch's semantics (optimizers.h), stepping the
// host's flat fp32 buffers on the CPU or, in builds with CUDA, on the GPU.
#include <llmrt/plugin.hpp>

#include "optim/optimizers.h"

LLMRT_PLUGIN("llmrt-optim", "0.1.0") {
  registrar.add_optimizer<llmrt::optim::AdamW>("adamw", "0.1.0",
                                               "AdamW with decoupled weight decay (PyTorch semantics)");
  registrar.add_optimizer<llmrt::optim::Sgd>("sgd", "0.1.0",
                                             "SGD with momentum and L2 weight decay (PyTorch semantics)");
}
