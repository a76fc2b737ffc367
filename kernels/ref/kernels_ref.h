// Reference fp32 kernels: plain loops, the specification every fast kernel is tested against.
// Signatures and shape contracts are in kernel_signatures.inc, shared with the cpu/ twin.
#pragma once

#include <cstddef>
#include <cstdint>

namespace llmrt::kernels::ref {
#include "ref/kernel_signatures.inc"
}  // namespace llmrt::kernels::ref
