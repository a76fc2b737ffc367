// The backward of the FlashAttention-2-style tensor-core attention (design: attention_mma.cuh
// and attention_tiling.h): D = rowsum(dO * O), then dK, dV per key tile with dQ added into an
// fp32 scratch, then dQ written into dqkv. bf16 and f16, sm_80 and newer.
#include "cuda/attention_mma.cuh"

namespace llmrt::kernels::cuda {
namespace mma_attention {
namespace {

// ---- backward, step 1: d_rows (B*NH, Tn) = rowsum(dout * out); dq_acc (B*NH, Tn, hs) = 0 ----
// One warp per (bh, t) row; grid ceil(B * NH * Tn / 4) blocks of 128.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    attention_backward_prep_kernel(float* d_rows, float* dq_acc, const T* dout, const T* out, int rows, int Tn,
                                   int C, int NH) {
  const int row = blockIdx.x * at::kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;  // warp-uniform
  const int hs = C / NH, bh = row / Tn, t = row % Tn, b = bh / NH, h = bh % NH;
  const std::size_t at_row = (std::size_t(b) * Tn + t) * C + std::size_t(h) * hs;
  float d = 0.0f;
  for (int c = lane; c < hs; c += 32) d += to_float(dout[at_row + c]) * to_float(out[at_row + c]);
  d = detail::warp_sum(d);
  if (lane == 0) d_rows[row] = d;
  for (int c = lane; c < hs; c += 32) dq_acc[std::size_t(row) * hs + c] = 0.0f;
}

// ---- backward, step 2: dK, dV (written into dqkv) and dQ (added into dq_acc, fp32) ----
// grid (ceil(Tn / 64), B * NH); a CTA owns keys [j0, j0 + 64), warp w keys j0 + 16w + [0, 16).
// Per query tile of Bq rows, warp w computes (keys as rows, queries as columns):
//   S^T = K_w Q^T, P^T = exp2(S^T * scale * log2e - lse * log2e) (0 where not live),
//   dP^T = V_w dO^T, dS^T = P^T * (dP^T - D), dV_w += P^T dO, dK_w += dS^T Q,
// writes dS (queries x keys) to shared memory, and then the 4 warps split dQ = dS K over
// (m-tile, n-tiles) and add it, times scale, into dq_acc.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads)
    attention_backward_mma_kernel(T* dqkv, float* dq_acc, const T* dout, const T* qkv, const float* lse,
                                  const float* d_rows, int Tn, int C, int NH, float scale) {
  constexpr int Bk = at::kBwdKeys, Bq = at::bwd_query_tile(D);
  constexpr int S = at::smem_stride(D), Sk = at::smem_stride(Bk), Sq = at::smem_stride(Bq);
  constexpr int kQ = Bq / at::kMmaN, kN = D / at::kMmaN;  // n-tiles of S^T (16 x Bq) and dK (16 x D)
  constexpr int kDqN = at::dq_n_tiles_per_warp(D, Bq);
  static_assert(D % at::kMmaK == 0 && D <= kMaxAttentionHeadSize, "head size padded to the mma's k");
  static_assert(Bq % at::kMmaK == 0 && at::kWarps % at::dq_m_tiles(Bq) == 0, "dQ split over the warps");
  static_assert(kDqN * at::dq_warp_groups(Bq) * at::kMmaN == D, "dQ n-tiles split evenly");
  static_assert(at::fragment_loads_conflict_free(S) && at::fragment_loads_conflict_free(Sk) &&
                    at::fragment_loads_conflict_free(Sq),
                "bank conflicts");
  extern __shared__ __align__(16) unsigned char smem[];
  T* k_s = reinterpret_cast<T*>(smem);  // (Bk, S)
  T* v_s = k_s + Bk * S;                // (Bk, S)
  T* kt_s = v_s + Bk * S;               // (D, Sk): K transposed
  T* q_s = kt_s + D * Sk;               // (Bq, S)
  T* do_s = q_s + Bq * S;               // (Bq, S)
  T* qt_s = do_s + Bq * S;              // (D, Sq)
  T* dot_s = qt_s + D * Sq;             // (D, Sq)
  T* ds_s = dot_s + D * Sq;             // (Bq, Sk): dS, queries x keys
  float* lse_s = reinterpret_cast<float*>(ds_s + Bq * Sk);  // (Bq), times log2(e)
  float* d_s = lse_s + Bq;                                   // (Bq)
  const int hs = C / NH, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const Head hd = head_of(Tn, C, NH, hs);
  const std::size_t ld = 3 * std::size_t(C);
  const int j0 = blockIdx.x * Bk, wk = warp * at::kMmaM;  // the first CTAs have the most query tiles
  load_tile<T, D, true, true>(k_s, S, kt_s, Sk, qkv + hd.qkv_off + C, ld, j0, Bk, Tn, hs);
  load_tile<T, D, true, false>(v_s, S, nullptr, 0, qkv + hd.qkv_off + 2 * C, ld, j0, Bk, Tn, hs);

  float dk[kN][4] = {}, dv[kN][4] = {};
  const float scale_log2 = scale * kLog2e;
  for (int qt = at::backward_first_query_tile(j0, Bq); qt < at::backward_query_tiles(Tn, Bq); qt++) {
    const int t0 = qt * Bq;
    __syncthreads();  // the previous tile's Q, dO, dS are consumed
    load_tile<T, D, true, true>(q_s, S, qt_s, Sq, qkv + hd.qkv_off, ld, t0, Bq, Tn, hs);
    load_tile<T, D, true, true>(do_s, S, dot_s, Sq, dout + hd.o_off, C, t0, Bq, Tn, hs);
    for (int i = threadIdx.x; i < Bq; i += blockDim.x) {
      const bool in = t0 + i < Tn;
      lse_s[i] = in ? lse[hd.bh * Tn + t0 + i] * kLog2e : 0.0f;
      d_s[i] = in ? d_rows[hd.bh * Tn + t0 + i] : 0.0f;
    }
    __syncthreads();
    float st[kQ][4] = {}, dpt[kQ][4] = {};
#pragma unroll
    for (int kk = 0; kk < D; kk += at::kMmaK) {
      std::uint32_t ak[4], av[4];
      load_a(ak, k_s, S, wk, kk, lane);
      load_a(av, v_s, S, wk, kk, lane);
#pragma unroll
      for (int n = 0; n < kQ; n++) {
        std::uint32_t b[2];
        load_b(b, q_s, S, n * at::kMmaN, kk, lane);
        mma_16816<T>(st[n], ak, b);
        load_b(b, do_s, S, n * at::kMmaN, kk, lane);
        mma_16816<T>(dpt[n], av, b);
      }
    }
    const bool masked = at::backward_tile_needs_mask(j0, Bk, t0, Bq, Tn);
#pragma unroll
    for (int n = 0; n < kQ; n++) {
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const at::RowCol rc = at::mma_c_coord(lane, i);
        const int q = n * at::kMmaN + rc.col;
        float p = exp2f(st[n][i] * scale_log2 - lse_s[q]);
        if (masked && !at::score_live(t0 + q, j0 + wk + rc.row, Tn)) p = 0.0f;
        st[n][i] = p;                        // P^T
        dpt[n][i] = p * (dpt[n][i] - d_s[q]);  // dS^T, unscaled
        ds_s[q * Sk + wk + rc.row] = from_float<T>(dpt[n][i]);
      }
    }
#pragma unroll
    for (int kk = 0; kk < Bq / at::kMmaK; kk++) {  // dV += P^T dO, dK += dS^T Q over the tile's queries
      std::uint32_t ap[4], ads[4];
      a_from_c<T>(ap, st, kk);
      a_from_c<T>(ads, dpt, kk);
#pragma unroll
      for (int n = 0; n < kN; n++) {
        std::uint32_t b[2];
        load_b(b, dot_s, Sq, n * at::kMmaN, kk * at::kMmaK, lane);
        mma_16816<T>(dv[n], ap, b);
        load_b(b, qt_s, Sq, n * at::kMmaN, kk * at::kMmaK, lane);
        mma_16816<T>(dk[n], ads, b);
      }
    }
    __syncthreads();  // dS complete
    const int mt = warp % at::dq_m_tiles(Bq), n_first = (warp / at::dq_m_tiles(Bq)) * kDqN;
    float dq[kDqN][4] = {};
#pragma unroll
    for (int kk = 0; kk < Bk; kk += at::kMmaK) {
      std::uint32_t a[4];
      load_a(a, ds_s, Sk, mt * at::kMmaM, kk, lane);
#pragma unroll
      for (int n = 0; n < kDqN; n++) {
        std::uint32_t b[2];
        load_b(b, kt_s, Sk, (n_first + n) * at::kMmaN, kk, lane);
        mma_16816<T>(dq[n], a, b);
      }
    }
#pragma unroll
    for (int n = 0; n < kDqN; n++) {
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const at::RowCol rc = at::mma_c_coord(lane, i);
        const int t = t0 + mt * at::kMmaM + rc.row, d = (n_first + n) * at::kMmaN + rc.col;
        if (t < Tn && d < hs) atomicAdd(dq_acc + (hd.bh * Tn + t) * hs + d, dq[n][i] * scale);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int j = j0 + wk + at::group_id(lane) + 8 * r;
    if (j >= Tn) continue;
    T* dk_row = dqkv + hd.qkv_off + std::size_t(j) * ld + C;
#pragma unroll
    for (int n = 0; n < kN; n++) {
      const int d = n * at::kMmaN + 2 * at::thread_in_group(lane);
      if (d >= hs) continue;
      *reinterpret_cast<std::uint32_t*>(dk_row + d) = pack2<T>(dk[n][2 * r] * scale, dk[n][2 * r + 1] * scale);
      *reinterpret_cast<std::uint32_t*>(dk_row + C + d) = pack2<T>(dv[n][2 * r], dv[n][2 * r + 1]);
    }
  }
}

// ---- backward, step 3: the q part of dqkv (B, Tn, 3C) WRITTEN from dq_acc (B*NH, Tn, hs) ----
template <typename T>
__global__ void attention_dq_store_kernel(T* dqkv, const float* dq_acc, int B, int Tn, int C, int NH) {
  const int hs = C / NH;
  const std::size_t n = std::size_t(B) * Tn * C;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t bt = i / C;
    const int c = int(i % C), h = c / hs, d = c % hs;
    const std::size_t b = bt / Tn, t = bt % Tn;
    dqkv[bt * 3 * C + c] = from_float<T>(dq_acc[((b * NH + h) * Tn + t) * hs + d]);
  }
}

}  // namespace
}  // namespace mma_attention

namespace detail {

std::size_t attention_mma_scratch_bytes(int B, int Tn, int C, int NH) {
  const std::size_t rows = std::size_t(B) * NH * Tn;
  const std::size_t d_bytes = (rows * sizeof(float) + 255) / 256 * 256;  // keeps dq_acc 256-byte aligned
  return d_bytes + rows * std::size_t(C / NH) * sizeof(float);
}

template <typename T>
void attention_backward_mma(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, void* scratch,
                            int B, int Tn, int C, int NH, cudaStream_t stream) {
  namespace ma = mma_attention;
  const int hs = C / NH, rows = B * NH * Tn;
  float* d_rows = static_cast<float*>(scratch);  // (B*NH, Tn)
  float* dq_acc = reinterpret_cast<float*>(static_cast<char*>(scratch) + (std::size_t(rows) * 4 + 255) / 256 * 256);
  ma::attention_backward_prep_kernel<T><<<ceil_div(rows, ma::at::kWarps), ma::kThreads, 0, stream>>>(
      d_rows, dq_acc, dout, out, rows, Tn, C, NH);
  LLMRT_CUDA_CHECK_LAUNCH();
  const float scale = 1.0f / std::sqrt(float(hs));
  ma::with_padded_head_size(hs, [&](auto padded) {
    constexpr int D = decltype(padded)::value;
    const int smem = ma::at::backward_smem_bytes(D);
    const auto kernel = ma::attention_backward_mma_kernel<T, D>;
    ma::allow_smem(kernel, smem);
    const dim3 grid(ceil_div(Tn, ma::at::kBwdKeys), unsigned(B * NH));
    kernel<<<grid, ma::kThreads, smem, stream>>>(dqkv, dq_acc, dout, qkv, lse, d_rows, Tn, C, NH, scale);
    LLMRT_CUDA_CHECK_LAUNCH();
  });
  const std::size_t n = std::size_t(B) * Tn * C;
  ma::attention_dq_store_kernel<T><<<elementwise_blocks(n, 256), 256, 0, stream>>>(dqkv, dq_acc, B, Tn, C, NH);
  LLMRT_CUDA_CHECK_LAUNCH();
}

template void attention_backward_mma<bf16>(bf16*, const bf16*, const bf16*, const bf16*, const float*, void*, int,
                                           int, int, int, cudaStream_t);
template void attention_backward_mma<f16>(f16*, const f16*, const f16*, const f16*, const float*, void*, int, int,
                                          int, int, cudaStream_t);

}  // namespace detail
}  // namespace llmrt::kernels::cuda
