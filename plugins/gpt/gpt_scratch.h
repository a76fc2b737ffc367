// The device scratch each GPT layer's CUDA pass carves from its stream's workspace (gpt_cuda.h),
// as region sizes in bytes, in carve order. Host code with no CUDA in it: the passes carve
// exactly these lists, and the layers' cost hints (llmrt_cost_hints.workspace_bytes) report the
// largest carve_bytes() over them, so the planner counts what the passes ask for.
// N = B*T rows; `dtype` the compute dtype (f32 stores 4 bytes per activation, bf16/f16 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "gpt/gpt_layers.h"

namespace llmrt::gpt::scratch {

using Regions = std::vector<size_t>;  // bytes of each region, in carve order

// Every region starts 256 bytes past the last one's start, rounded up (cuBLASLt and 128-bit
// loads want it; the attention backward requires it).
inline constexpr size_t kAlign = 256;
inline size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
// The allocation a carve of `regions` needs: the sum of their aligned sizes.
size_t carve_bytes(const Regions& regions);

// Bytes of one activation value at `dtype` on CUDA (the storage type T).
size_t element_bytes(int32_t dtype);

// The CUDA attention backward's scratch (kernels_cuda.h attention_backward_scratch_bytes) for
// x of (B, T, local) with `heads` heads at `dtype`: the tensor-core path (bf16, f16; head size a
// multiple of 8) takes (B*NH*T) fp32 row sums, padded to 256 bytes, then a (B*NH*T, hs) fp32 dq
// accumulator; fp32 runs on CUDA cores and takes none. A CUDA build's test holds this to the
// kernel's own function.
size_t attention_backward_bytes(int32_t dtype, int64_t batch, int64_t seq, int64_t local, int64_t heads);

// gpt.embedding forward and backward_weight: the (N) i32 token ids uploaded from the host.
Regions embedding(int64_t rows);

// gpt.block forward: {(N, C) T row-parallel partial, (N, C) f32 tp-sum widened, (N, C) f32
// tp-sum total (both 0 at tp = 1), selective: (N, C) T ln1/ln2, (N, 4C/tp) T fc_act (else 0)}.
Regions block_forward(const BlockDims& dims, int32_t dtype, int64_t tp, bool selective, int64_t batch, int64_t seq);
// gpt.block backward_input: {(N, C/tp) T d_att, the two tp-sum buffers, the attention scratch}.
Regions block_backward_input(const BlockDims& dims, int32_t dtype, int64_t tp, int64_t batch, int64_t seq);
// gpt.block backward_weight: selective: {(N, C) T ln2/ln1, (N, 4C/tp) T fc_act, (N) f32 mean,
// (N) f32 rstd}; none: nothing (empty, the pass carves nothing).
Regions block_backward_weight(const BlockDims& dims, int32_t dtype, bool selective, int64_t batch, int64_t seq);

// gpt.head forward: {(N, Vp) T logits, (N) f32 row losses, (N) i32 targets, () f32 loss}.
Regions head_forward(int32_t dtype, int64_t rows, int64_t padded_vocab);
// gpt.head backward: {(N, Vp) T logits then dlogits, (N, C) T d_lnf, (N) i32 targets}.
Regions head_backward(int32_t dtype, int64_t rows, int64_t channels, int64_t padded_vocab);

// The largest carve_bytes over `passes`: what one layer needs of its stream's workspace.
size_t largest(std::initializer_list<Regions> passes);

// The largest workspace_bytes in the cost hints of the live layers (LiveLayer, gpt_layers.h) at
// (batch, seq); 0 when there are none (a layer whose hints fail for this shape counts 0: its own
// carve grows the workspace).
size_t largest_live_workspace(int64_t batch, int64_t seq);

}  // namespace llmrt::gpt::scratch
