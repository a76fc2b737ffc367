// A CPU emulation of the tensor-core attention kernels (kernels/cuda/attention_mma_{fwd,bwd}.cu),
// written line for line after them: the same CTAs, warps, tiles and shared-memory matrices, the
// same fragment loads (attention_tiling.h), an mma that places its operands exactly as the PTX
// ISA's fragment tables say, the same online-softmax order and the same roundings to the storage
// type. One lane at a time, fp32 arithmetic. It is how the kernels' algorithm and index math are
// checked against kernels/ref on a machine without a GPU (attention_tiling_test.cpp).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda/attention_tiling.h"

namespace llmrt::kernels::mma_emulation {
namespace at = llmrt::kernels::attention_tiling;

enum class Storage { kFp32, kBf16, kF16 };

// x rounded to the storage type, to nearest-even (what __float2bfloat16 / __float2half_rn do).
inline float round_to(Storage s, float x) {
  if (s == Storage::kF16) return float(static_cast<_Float16>(x));
  if (s == Storage::kFp32 || std::isnan(x)) return x;
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}
inline std::vector<float> round_all(Storage s, std::vector<float> v) {
  for (float& x : v) x = round_to(s, x);
  return v;
}

// One warp's fragments, per lane, in the PTX element order (attention_tiling.h).
using WarpA = std::array<std::array<float, 8>, 32>;
using WarpB = std::array<std::array<float, 4>, 32>;
using WarpC = std::array<std::array<float, 4>, 32>;

// A shared-memory matrix: row-major with a row stride, values already in the storage type.
struct Smem {
  Smem(int rows, int stride_) : v(std::size_t(rows) * stride_, 0.0f), stride(stride_) {}
  float& at(int r, int c) { return v[std::size_t(r) * stride + c]; }
  float at(int r, int c) const { return v[std::size_t(r) * stride + c]; }
  std::vector<float> v;
  int stride;
};

// The kernels' load_a / load_b: 32-bit pairs, through the same helpers.
inline void load_a(WarpA& a, const Smem& m, int r0, int k0) {
  for (int lane = 0; lane < 32; lane++) {
    for (int reg = 0; reg < 4; reg++) {
      const int r = r0 + at::a_reg_row(lane, reg), c = k0 + at::a_reg_col(lane, reg);
      a[lane][2 * reg] = m.at(r, c);
      a[lane][2 * reg + 1] = m.at(r, c + 1);
    }
  }
}
inline void load_b(WarpB& b, const Smem& nk, int n0, int k0) {
  for (int lane = 0; lane < 32; lane++) {
    for (int reg = 0; reg < 2; reg++) {
      const int n = n0 + at::b_reg_n(lane), k = k0 + at::b_reg_k(lane, reg);
      b[lane][2 * reg] = nk.at(n, k);
      b[lane][2 * reg + 1] = nk.at(n, k + 1);
    }
  }
}
// The kernels' a_from_c: C tiles 2kk and 2kk+1 as the A fragment, rounded to the storage type.
inline void a_from_c(WarpA& a, const std::vector<WarpC>& c, int kk, Storage s) {
  for (int lane = 0; lane < 32; lane++) {
    for (int reg = 0; reg < 4; reg++) {
      const WarpC& tile = c[2 * kk + at::a_from_c_tile(reg)];
      const int e = at::a_from_c_elem(reg);
      a[lane][2 * reg] = round_to(s, tile[lane][e]);
      a[lane][2 * reg + 1] = round_to(s, tile[lane][e + 1]);
    }
  }
}

// mma.m16n8k16 as the PTX ISA defines it: the lanes' elements placed by mma_{a,b,c}_coord.
inline void mma(WarpC& d, const WarpA& a, const WarpB& b) {
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; lane++) {
    for (int i = 0; i < 8; i++) A[at::mma_a_coord(lane, i).row][at::mma_a_coord(lane, i).col] = a[lane][i];
    for (int i = 0; i < 4; i++) B[at::mma_b_coord(lane, i).row][at::mma_b_coord(lane, i).col] = b[lane][i];
  }
  for (int lane = 0; lane < 32; lane++) {
    for (int i = 0; i < 4; i++) {
      const at::RowCol rc = at::mma_c_coord(lane, i);
      float acc = d[lane][i];
      for (int k = 0; k < 16; k++) acc = std::fma(A[rc.row][k], B[k][rc.col], acc);
      d[lane][i] = acc;
    }
  }
}

// The kernels' quad_max / quad_sum: over lanes 4g .. 4g+3 (xor 1, then xor 2).
template <typename F>
void quad_reduce(std::array<std::array<float, 2>, 32>& x, F f) {
  for (int step : {1, 2}) {
    auto y = x;
    for (int lane = 0; lane < 32; lane++) {
      for (int r = 0; r < 2; r++) y[lane][r] = f(x[lane][r], x[lane ^ step][r]);
    }
    x = y;
  }
}

struct Shape {
  int B, T, C, NH;
};

// The kernels' load_tile: rows [r0, r0 + rows) of one head (row stride ld), dims [0, D); rows
// past T and dims past hs are zero. dst and/or dst_t (transposed) may be null.
inline void load_tile(Smem* dst, Smem* dst_t, const float* src, std::size_t ld, int r0, int rows, int T, int hs,
                      int D) {
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < D; c++) {
      const float x = r0 + r < T && c < hs ? src[std::size_t(r0 + r) * ld + c] : 0.0f;
      if (dst != nullptr) dst->at(r, c) = x;
      if (dst_t != nullptr) dst_t->at(c, r) = x;
    }
  }
}

// attention_forward_mma_kernel for every CTA. out: (B, T, C); lse: (B, NH, T); qkv: (B, T, 3C)
// in the storage type.
void forward(std::vector<float>& out, std::vector<float>& lse, const std::vector<float>& qkv, const Shape& p,
             Storage st);
// attention_backward_{prep,mma,dq_store}_kernel. dqkv: (B, T, 3C) written; dout, out: (B, T, C).
void backward(std::vector<float>& dqkv, const std::vector<float>& dout, const std::vector<float>& qkv,
              const std::vector<float>& out, const std::vector<float>& lse, const Shape& p, Storage st);

}  // namespace llmrt::kernels::mma_emulation
