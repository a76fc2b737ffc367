// The index arithmetic of the tensor-core attention kernels (attention_mma.cuh and the
// attention_mma_{fwd,bwd}.cu that use it), as constexpr host/device functions so the CPU tests
// (tests/kernels/attention_tiling_test.cpp) can check it where no GPU runs: tile counts, causal
// skip and mask bounds, shared-memory strides and load mappings, and the m16n8k16 fragment
// layouts. Plain C++: no CUDA header is needed to include it.
#pragma once

#if defined(__CUDACC__)
#define LLMRT_HD __host__ __device__
#else
#define LLMRT_HD
#endif

namespace llmrt::kernels::attention_tiling {

// ---- mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32 ----
// Fragment layouts as the PTX ISA defines them ("Matrix Fragments for mma.m16n8k16 with floating
// point type", section 9.7.14.5.8 in PTX ISA 8.x), with groupID = lane >> 2 and
// threadID_in_group = lane % 4:
//   A (16 x 16, row-major), 8 elements a0..a7 in 4 .b32 registers (2 per register, lower index
//     in the low half): row = groupID for a_i with i in {0,1,4,5}, groupID + 8 otherwise;
//     col = threadID_in_group * 2 + (i & 1), + 8 for i >= 4.
//   B (16 x 8, "col": element (k, n)), 4 elements b0..b3 in 2 registers:
//     row (k) = threadID_in_group * 2 + (i & 1), + 8 for i >= 2; col (n) = groupID.
//   C, D (16 x 8, fp32), 4 elements c0..c3: row = groupID for i < 2, groupID + 8 otherwise;
//     col = threadID_in_group * 2 + (i & 1).
struct RowCol {
  int row, col;
};
inline constexpr int kMmaM = 16, kMmaN = 8, kMmaK = 16;

LLMRT_HD constexpr int group_id(int lane) { return lane >> 2; }
LLMRT_HD constexpr int thread_in_group(int lane) { return lane & 3; }

// Element i (0..7) of lane's A fragment.
LLMRT_HD constexpr RowCol mma_a_coord(int lane, int i) {
  const bool low_row = (i & 2) == 0;  // i in {0,1,4,5}
  return {group_id(lane) + (low_row ? 0 : 8), thread_in_group(lane) * 2 + (i & 1) + (i >= 4 ? 8 : 0)};
}
// Element i (0..3) of lane's B fragment, as (k, n).
LLMRT_HD constexpr RowCol mma_b_coord(int lane, int i) {
  return {thread_in_group(lane) * 2 + (i & 1) + (i >= 2 ? 8 : 0), group_id(lane)};
}
// Element i (0..3) of lane's C/D fragment.
LLMRT_HD constexpr RowCol mma_c_coord(int lane, int i) {
  return {group_id(lane) + (i >= 2 ? 8 : 0), thread_in_group(lane) * 2 + (i & 1)};
}

// The kernels read every operand as 32-bit pairs (two adjacent elements of one row) from a
// row-major shared-memory matrix M: an A fragment of the 16 x 16 block at (r0, k0) is
//   reg 0: M[r0 + g][k0 + 2t..],  reg 1: M[r0 + g + 8][k0 + 2t..],
//   reg 2: M[r0 + g][k0 + 2t + 8..], reg 3: M[r0 + g + 8][k0 + 2t + 8..]
// and a B fragment of the 16 x 8 block (k0, n0) is read from the matrix stored n-major, N[n][k]:
//   reg 0: N[n0 + g][k0 + 2t..], reg 1: N[n0 + g][k0 + 2t + 8..].
// Register r of A holds elements 2r, 2r+1 of the PTX order above (so a_reg_row/col describe
// element 2r); the tests check that against mma_a_coord.
LLMRT_HD constexpr int a_reg_row(int lane, int reg) { return group_id(lane) + (reg & 1) * 8; }
LLMRT_HD constexpr int a_reg_col(int lane, int reg) { return thread_in_group(lane) * 2 + (reg >> 1) * 8; }
LLMRT_HD constexpr int b_reg_n(int lane) { return group_id(lane); }
LLMRT_HD constexpr int b_reg_k(int lane, int reg) { return thread_in_group(lane) * 2 + reg * 8; }

// The register reuse at the heart of FlashAttention-2: the fp32 accumulators of two adjacent
// 16 x 8 C tiles (columns n0..n0+7 and n0+8..n0+15), packed in pairs, are exactly the A fragment
// of the 16 x 16 block starting at column n0. A register r of that A fragment comes from
// C tile (r >> 1), elements 2 * (r & 1) and 2 * (r & 1) + 1.
LLMRT_HD constexpr int a_from_c_tile(int reg) { return reg >> 1; }
LLMRT_HD constexpr int a_from_c_elem(int reg) { return 2 * (reg & 1); }

// ---- shared memory ----
// Row stride (elements of 2 bytes) of a shared matrix whose rows hold `cols` elements: padded
// by 8 elements (16 bytes) so rows stay 16-byte aligned for vector stores and the 32 lanes of a
// fragment load (rows g = 0..7, word t = 0..3) hit 32 different banks: that needs the stride in
// 32-bit words to be 4 (mod 8).
LLMRT_HD constexpr int smem_stride(int cols) { return cols + 8; }
LLMRT_HD constexpr bool fragment_loads_conflict_free(int stride) { return (stride / 2) % 8 == 4; }

// Which (row, first dim) of a tile thread-iteration idx loads as one 16-byte chunk (8 elements)
// in load_tile (attention_mma.cuh): chunk-fast for row-major copies, row-fast when a transposed
// copy is stored too (see there for why).
LLMRT_HD constexpr int tile_load_row(int idx, int rows, int chunks, bool transposed) {
  return transposed ? idx % rows : idx / chunks;
}
LLMRT_HD constexpr int tile_load_col(int idx, int rows, int chunks, bool transposed) {
  return (transposed ? idx / rows : idx % chunks) * 8;
}

// ---- tiles ----
LLMRT_HD constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }
LLMRT_HD constexpr int min_int(int a, int b) { return a < b ? a : b; }
// Head size as the kernels are compiled for it: rounded up to the mma's k (16); dims past the
// real head size are zero in shared memory and never stored.
LLMRT_HD constexpr int padded_head_size(int hs) { return ceil_div(hs, kMmaK) * kMmaK; }

// Forward: a CTA owns query rows [q0, q0 + kBr) and streams key tiles of kBc from key 0.
// Key tiles it must visit (causal: keys <= its last live query, and < T).
LLMRT_HD constexpr int forward_key_tiles(int q0, int Br, int Bc, int T) {
  return ceil_div(min_int(q0 + Br, T), Bc);
}
// A key tile [k0, k0 + Bc) needs the mask (some score is -inf) iff a key may exceed a query
// of the CTA or run past T.
LLMRT_HD constexpr bool forward_tile_needs_mask(int q0, int k0, int Bc, int T) {
  return k0 + Bc - 1 > q0 || k0 + Bc > T;
}
// Backward: a CTA owns keys [j0, j0 + Bk) and streams query tiles of Bq starting at the one that
// holds query j0 (earlier queries see none of its keys).
LLMRT_HD constexpr int backward_first_query_tile(int j0, int Bq) { return j0 / Bq; }
LLMRT_HD constexpr int backward_query_tiles(int T, int Bq) { return ceil_div(T, Bq); }
LLMRT_HD constexpr bool backward_tile_needs_mask(int j0, int Bk, int t0, int Bq, int T) {
  return t0 < j0 + Bk - 1 || t0 + Bq > T;
}
// The one causal predicate: query t sees key j.
LLMRT_HD constexpr bool score_live(int t, int j, int T) { return j <= t && t < T; }

// Tile shapes. Forward: 64 query rows per CTA (4 warps x 16), key tiles of 64. Backward: 64 keys
// per CTA (4 warps x 16); query tiles of 64 up to head size 64 and 32 beyond, which keeps the
// per-warp score, dP, dK and dV accumulators inside 255 registers at head size 128.
inline constexpr int kWarps = 4;
inline constexpr int kFwdRows = kWarps * kMmaM;  // Br
inline constexpr int kFwdKeys = 64;              // Bc
inline constexpr int kBwdKeys = kWarps * kMmaM;  // Bk
LLMRT_HD constexpr int bwd_query_tile(int padded_hs) { return padded_hs <= 64 ? 64 : 32; }

// Shared memory (bytes, 2-byte elements) of each kernel for padded head size D.
// Forward: Q (Br x D), K (Bc x D), V transposed (D x Bc).
LLMRT_HD constexpr int forward_smem_bytes(int D) {
  return 2 * (kFwdRows * smem_stride(D) + kFwdKeys * smem_stride(D) + D * smem_stride(kFwdKeys));
}
// Backward: K, V (Bk x D), K transposed (D x Bk); per query tile Q, dO (Bq x D), their
// transposes (D x Bq), dS (Bq x Bk); then lse and D rows (Bq fp32 each).
LLMRT_HD constexpr int backward_smem_bytes(int D) {
  const int Bq = bwd_query_tile(D);
  return 2 * (2 * kBwdKeys * smem_stride(D) + D * smem_stride(kBwdKeys) + 2 * Bq * smem_stride(D) +
              2 * D * smem_stride(Bq) + Bq * smem_stride(kBwdKeys)) +
         2 * Bq * 4;
}

// In the backward's dQ step the 4 warps split the (Bq x D) tile: m-tile w % (Bq / 16), and
// of the D / 8 n-tiles the share w / (Bq / 16) of kWarps / (Bq / 16) equal parts.
LLMRT_HD constexpr int dq_m_tiles(int Bq) { return Bq / kMmaM; }
LLMRT_HD constexpr int dq_warp_groups(int Bq) { return kWarps / dq_m_tiles(Bq); }
LLMRT_HD constexpr int dq_n_tiles_per_warp(int D, int Bq) { return D / kMmaN / dq_warp_groups(Bq); }

}  // namespace llmrt::kernels::attention_tiling
