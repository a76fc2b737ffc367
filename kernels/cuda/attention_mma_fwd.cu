// The forward of the FlashAttention-2-style tensor-core attention (design: attention_mma.cuh
// and attention_tiling.h): bf16 and f16, sm_80 and newer.
#include "cuda/attention_mma.cuh"

namespace llmrt::kernels::cuda {
namespace mma_attention {
namespace {

// ---- forward ----
// grid (ceil(Tn / 64), B * NH); out: (B, Tn, C) T; lse: (B, NH, Tn) fp32; qkv: (B, Tn, 3C) T.
// scale_log2 = log2(e) / sqrt(hs): scores live in the log2 domain (exp2f), lse is converted back.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads)
    attention_forward_mma_kernel(T* out, float* lse, const T* qkv, int Tn, int C, int NH, float scale_log2) {
  constexpr int Br = at::kFwdRows, Bc = at::kFwdKeys, S = at::smem_stride(D), St = at::smem_stride(Bc);
  constexpr int kO = D / at::kMmaN, kS = Bc / at::kMmaN;  // n-tiles of O (16 x D) and S (16 x Bc)
  static_assert(D % at::kMmaK == 0 && D <= kMaxAttentionHeadSize, "head size padded to the mma's k");
  static_assert(at::fragment_loads_conflict_free(S) && at::fragment_loads_conflict_free(St), "bank conflicts");
  extern __shared__ __align__(16) unsigned char smem[];
  T* q_s = reinterpret_cast<T*>(smem);  // (Br, S)
  T* k_s = q_s + Br * S;                // (Bc, S)
  T* vt_s = k_s + Bc * S;               // (D, St): V transposed
  const int hs = C / NH, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const Head hd = head_of(Tn, C, NH, hs);
  const std::size_t ld = 3 * std::size_t(C);
  // The last query tiles have the most key tiles: launch them first.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * Br;
  load_tile<T, D, true, false>(q_s, S, nullptr, 0, qkv + hd.qkv_off, ld, q0, Br, Tn, hs);

  float o[kO][4] = {}, m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const int n_tiles = at::forward_key_tiles(q0, Br, Bc, Tn);
  for (int kt = 0; kt < n_tiles; kt++) {
    const int k0 = kt * Bc;
    __syncthreads();  // the previous tile is consumed (the first time: nothing to wait for but Q)
    load_tile<T, D, true, false>(k_s, S, nullptr, 0, qkv + hd.qkv_off + C, ld, k0, Bc, Tn, hs);
    load_tile<T, D, false, true>(nullptr, 0, vt_s, St, qkv + hd.qkv_off + 2 * C, ld, k0, Bc, Tn, hs);
    __syncthreads();
    float s[kS][4] = {};  // S = Q K^T for the warp's 16 rows x Bc keys
#pragma unroll
    for (int kk = 0; kk < D; kk += at::kMmaK) {
      std::uint32_t a[4];
      load_a(a, q_s, S, warp * at::kMmaM, kk, lane);
#pragma unroll
      for (int n = 0; n < kS; n++) {
        std::uint32_t b[2];
        load_b(b, k_s, S, n * at::kMmaN, kk, lane);
        mma_16816<T>(s[n], a, b);
      }
    }
    const bool masked = at::forward_tile_needs_mask(q0, k0, Bc, Tn);
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int n = 0; n < kS; n++) {
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const at::RowCol rc = at::mma_c_coord(lane, i);
        float x = s[n][i] * scale_log2;
        if (masked && !at::score_live(q0 + warp * at::kMmaM + rc.row, k0 + n * at::kMmaN + rc.col, Tn)) x = -INFINITY;
        s[n][i] = x;
        mx[i >> 1] = fmaxf(mx[i >> 1], x);
      }
    }
    float base[2], corr[2], rowsum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = quad_max(mx[r]);
      base[r] = mx[r] == -INFINITY ? 0.0f : mx[r];  // a row with no live key yet: exp2(-inf) = 0, no NaN
      corr[r] = exp2f(m[r] - base[r]);
      m[r] = mx[r];
    }
#pragma unroll
    for (int n = 0; n < kS; n++) {
#pragma unroll
      for (int i = 0; i < 4; i++) {
        s[n][i] = exp2f(s[n][i] - base[i >> 1]);
        rowsum[i >> 1] += s[n][i];
      }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) l[r] = l[r] * corr[r] + rowsum[r];  // this lane's part; quad-summed at the end
#pragma unroll
    for (int n = 0; n < kO; n++) {
#pragma unroll
      for (int i = 0; i < 4; i++) o[n][i] *= corr[i >> 1];
    }
#pragma unroll
    for (int kk = 0; kk < Bc / at::kMmaK; kk++) {  // O += P V, P rounded to T as the A operand
      std::uint32_t a[4];
      a_from_c<T>(a, s, kk);
#pragma unroll
      for (int n = 0; n < kO; n++) {
        std::uint32_t b[2];
        load_b(b, vt_s, St, n * at::kMmaN, kk * at::kMmaK, lane);
        mma_16816<T>(o[n], a, b);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const float sum = quad_sum(l[r]);
    const int t = q0 + warp * at::kMmaM + at::group_id(lane) + 8 * r;
    if (t >= Tn) continue;
    const float inv = 1.0f / sum;
    T* o_row = out + hd.o_off + std::size_t(t) * C;
#pragma unroll
    for (int n = 0; n < kO; n++) {
      const int d = n * at::kMmaN + 2 * at::thread_in_group(lane);
      if (d < hs) *reinterpret_cast<std::uint32_t*>(o_row + d) = pack2<T>(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
    }
    if (at::thread_in_group(lane) == 0) lse[hd.bh * Tn + t] = (m[r] + log2f(sum)) * kLn2;
  }
}

}  // namespace
}  // namespace mma_attention

namespace detail {

template <typename T>
void attention_forward_mma(T* out, float* lse, const T* qkv, int B, int Tn, int C, int NH, cudaStream_t stream) {
  namespace ma = mma_attention;
  const int hs = C / NH;
  const float scale_log2 = ma::kLog2e / std::sqrt(float(hs));
  ma::with_padded_head_size(hs, [&](auto padded) {
    constexpr int D = decltype(padded)::value;
    const int smem = ma::at::forward_smem_bytes(D);
    const auto kernel = ma::attention_forward_mma_kernel<T, D>;
    ma::allow_smem(kernel, smem);
    const dim3 grid(ceil_div(Tn, ma::at::kFwdRows), unsigned(B * NH));
    kernel<<<grid, ma::kThreads, smem, stream>>>(out, lse, qkv, Tn, C, NH, scale_log2);
    LLMRT_CUDA_CHECK_LAUNCH();
  });
}

template void attention_forward_mma<bf16>(bf16*, float*, const bf16*, int, int, int, int, cudaStream_t);
template void attention_forward_mma<f16>(f16*, float*, const f16*, int, int, int, int, cudaStream_t);

}  // namespace detail
}  // namespace llmrt::kernels::cuda
