// The CPU emulation of the tensor-core attention kernels (attention_mma_emulation.h): each
// function follows its kernel statement by statement; comments name the kernel's steps.
#include "attention_mma_emulation.h"

namespace llmrt::kernels::mma_emulation {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
using Rows = std::array<std::array<float, 2>, 32>;  // per lane, rows g and g + 8 of its warp

struct Head {
  std::size_t qkv_off, o_off, bh;
};
Head head_of(const Shape& p, int bh) {
  const int b = bh / p.NH, h = bh % p.NH, hs = p.C / p.NH;
  return {std::size_t(b) * p.T * 3 * p.C + std::size_t(h) * hs, std::size_t(b) * p.T * p.C + std::size_t(h) * hs,
          std::size_t(bh)};
}

// One warp's running state in the forward: O tiles, max m and this lane's part of the sum l.
struct FwdWarp {
  std::vector<WarpC> o;
  Rows m, l;
};

// The body of the key-tile loop for one warp (kernel: S = Q K^T, mask, online softmax, O += P V).
void forward_tile(FwdWarp& w, int warp, const Smem& q_s, const Smem& k_s, const Smem& vt_s, int q0, int k0, int T,
                  float scale_log2, int D, Storage st) {
  constexpr int Bc = at::kFwdKeys, kS = Bc / at::kMmaN;
  std::vector<WarpC> s(kS, WarpC{});
  for (int kk = 0; kk < D; kk += at::kMmaK) {
    WarpA a;
    load_a(a, q_s, warp * at::kMmaM, kk);
    for (int n = 0; n < kS; n++) {
      WarpB b;
      load_b(b, k_s, n * at::kMmaN, kk);
      mma(s[n], a, b);
    }
  }
  const bool masked = at::forward_tile_needs_mask(q0, k0, Bc, T);
  Rows mx = w.m;
  for (int n = 0; n < kS; n++) {
    for (int lane = 0; lane < 32; lane++) {
      for (int i = 0; i < 4; i++) {
        const at::RowCol rc = at::mma_c_coord(lane, i);
        float x = s[n][lane][i] * scale_log2;
        if (masked && !at::score_live(q0 + warp * at::kMmaM + rc.row, k0 + n * at::kMmaN + rc.col, T)) x = -INFINITY;
        s[n][lane][i] = x;
        mx[lane][i >> 1] = std::max(mx[lane][i >> 1], x);
      }
    }
  }
  quad_reduce(mx, [](float a, float b) { return std::max(a, b); });
  Rows base, corr, rowsum{};
  for (int lane = 0; lane < 32; lane++) {
    for (int r = 0; r < 2; r++) {
      base[lane][r] = mx[lane][r] == -INFINITY ? 0.0f : mx[lane][r];
      corr[lane][r] = std::exp2(w.m[lane][r] - base[lane][r]);
      w.m[lane][r] = mx[lane][r];
    }
  }
  for (int n = 0; n < kS; n++) {
    for (int lane = 0; lane < 32; lane++) {
      for (int i = 0; i < 4; i++) {
        s[n][lane][i] = std::exp2(s[n][lane][i] - base[lane][i >> 1]);
        rowsum[lane][i >> 1] += s[n][lane][i];
      }
    }
  }
  for (int lane = 0; lane < 32; lane++) {
    for (int r = 0; r < 2; r++) w.l[lane][r] = w.l[lane][r] * corr[lane][r] + rowsum[lane][r];
    for (auto& tile : w.o) {
      for (int i = 0; i < 4; i++) tile[lane][i] *= corr[lane][i >> 1];
    }
  }
  for (int kk = 0; kk < Bc / at::kMmaK; kk++) {
    WarpA a;
    a_from_c(a, s, kk, st);
    for (int n = 0; n < int(w.o.size()); n++) {
      WarpB b;
      load_b(b, vt_s, n * at::kMmaN, kk * at::kMmaK);
      mma(w.o[n], a, b);
    }
  }
}

// The forward's epilogue for one warp: quad-sum l, write O / l rounded and lse.
void forward_store(FwdWarp& w, int warp, std::vector<float>& out, std::vector<float>& lse, const Head& hd, int q0,
                   const Shape& p, Storage st) {
  const int hs = p.C / p.NH;
  quad_reduce(w.l, [](float a, float b) { return a + b; });
  for (int lane = 0; lane < 32; lane++) {
    for (int r = 0; r < 2; r++) {
      const int t = q0 + warp * at::kMmaM + at::group_id(lane) + 8 * r;
      if (t >= p.T) continue;
      const float sum = w.l[lane][r], inv = 1.0f / sum;
      for (int n = 0; n < int(w.o.size()); n++) {
        const int d = n * at::kMmaN + 2 * at::thread_in_group(lane);
        if (d >= hs) continue;
        out[hd.o_off + std::size_t(t) * p.C + d] = round_to(st, w.o[n][lane][2 * r] * inv);
        out[hd.o_off + std::size_t(t) * p.C + d + 1] = round_to(st, w.o[n][lane][2 * r + 1] * inv);
      }
      if (at::thread_in_group(lane) == 0) lse[hd.bh * p.T + t] = (w.m[lane][r] + std::log2(sum)) * kLn2;
    }
  }
}

}  // namespace

void forward(std::vector<float>& out, std::vector<float>& lse, const std::vector<float>& qkv, const Shape& p,
             Storage st) {
  const int hs = p.C / p.NH, D = at::padded_head_size(hs);
  constexpr int Br = at::kFwdRows, Bc = at::kFwdKeys;
  const std::size_t ld = 3 * std::size_t(p.C);
  const float scale_log2 = kLog2e / std::sqrt(float(hs));
  for (int bh = 0; bh < p.B * p.NH; bh++) {
    const Head hd = head_of(p, bh);
    for (int q0 = 0; q0 < p.T; q0 += Br) {
      Smem q_s(Br, at::smem_stride(D)), k_s(Bc, at::smem_stride(D)), vt_s(D, at::smem_stride(Bc));
      load_tile(&q_s, nullptr, qkv.data() + hd.qkv_off, ld, q0, Br, p.T, hs, D);
      std::vector<FwdWarp> warps(at::kWarps);
      for (auto& w : warps) {
        w.o.assign(D / at::kMmaN, WarpC{});
        for (auto& lane : w.m) lane = {-INFINITY, -INFINITY};
        for (auto& lane : w.l) lane = {0.0f, 0.0f};
      }
      for (int kt = 0; kt < at::forward_key_tiles(q0, Br, Bc, p.T); kt++) {
        const int k0 = kt * Bc;
        load_tile(&k_s, nullptr, qkv.data() + hd.qkv_off + p.C, ld, k0, Bc, p.T, hs, D);
        load_tile(nullptr, &vt_s, qkv.data() + hd.qkv_off + 2 * p.C, ld, k0, Bc, p.T, hs, D);
        for (int w = 0; w < at::kWarps; w++) forward_tile(warps[w], w, q_s, k_s, vt_s, q0, k0, p.T, scale_log2, D, st);
      }
      for (int w = 0; w < at::kWarps; w++) forward_store(warps[w], w, out, lse, hd, q0, p, st);
    }
  }
}

namespace {

// The shared matrices of one backward CTA (attention_backward_mma_kernel's carve-up).
struct BwdSmem {
  BwdSmem(int D, int Bq)
      : k(at::kBwdKeys, at::smem_stride(D)), v(at::kBwdKeys, at::smem_stride(D)), kt(D, at::smem_stride(at::kBwdKeys)),
        q(Bq, at::smem_stride(D)), dO(Bq, at::smem_stride(D)), qt(D, at::smem_stride(Bq)), dOt(D, at::smem_stride(Bq)),
        ds(Bq, at::smem_stride(at::kBwdKeys)), lse(Bq), d(Bq) {}
  Smem k, v, kt, q, dO, qt, dOt, ds;
  std::vector<float> lse, d;
};

// One warp's work on one query tile: S^T, dP^T, P^T, dS^T (to shared dS), dV += P^T dO, dK += dS^T Q.
void backward_tile(std::vector<WarpC>& dk, std::vector<WarpC>& dv, BwdSmem& sm, int warp, int j0, int t0, int T,
                   float scale_log2, int D, int Bq, Storage st) {
  const int kQ = Bq / at::kMmaN, wk = warp * at::kMmaM;
  std::vector<WarpC> s(kQ, WarpC{}), dp(kQ, WarpC{});
  for (int kk = 0; kk < D; kk += at::kMmaK) {
    WarpA ak, av;
    load_a(ak, sm.k, wk, kk);
    load_a(av, sm.v, wk, kk);
    for (int n = 0; n < kQ; n++) {
      WarpB b;
      load_b(b, sm.q, n * at::kMmaN, kk);
      mma(s[n], ak, b);
      load_b(b, sm.dO, n * at::kMmaN, kk);
      mma(dp[n], av, b);
    }
  }
  const bool masked = at::backward_tile_needs_mask(j0, at::kBwdKeys, t0, Bq, T);
  for (int n = 0; n < kQ; n++) {
    for (int lane = 0; lane < 32; lane++) {
      for (int i = 0; i < 4; i++) {
        const at::RowCol rc = at::mma_c_coord(lane, i);
        const int q = n * at::kMmaN + rc.col;
        float pr = std::exp2(s[n][lane][i] * scale_log2 - sm.lse[q]);
        if (masked && !at::score_live(t0 + q, j0 + wk + rc.row, T)) pr = 0.0f;
        s[n][lane][i] = pr;
        dp[n][lane][i] = pr * (dp[n][lane][i] - sm.d[q]);
        sm.ds.at(q, wk + rc.row) = round_to(st, dp[n][lane][i]);
      }
    }
  }
  for (int kk = 0; kk < Bq / at::kMmaK; kk++) {
    WarpA ap, ads;
    a_from_c(ap, s, kk, st);
    a_from_c(ads, dp, kk, st);
    for (int n = 0; n < D / at::kMmaN; n++) {
      WarpB b;
      load_b(b, sm.dOt, n * at::kMmaN, kk * at::kMmaK);
      mma(dv[n], ap, b);
      load_b(b, sm.qt, n * at::kMmaN, kk * at::kMmaK);
      mma(dk[n], ads, b);
    }
  }
}

// One warp's share of dQ = dS K for the tile, added times scale into dq_acc (B*NH, T, hs).
void backward_dq(std::vector<float>& dq_acc, const BwdSmem& sm, int warp, std::size_t bh, int t0, int T, int hs,
                 float scale, int D, int Bq) {
  const int n_per = at::dq_n_tiles_per_warp(D, Bq);
  const int mt = warp % at::dq_m_tiles(Bq), n_first = (warp / at::dq_m_tiles(Bq)) * n_per;
  std::vector<WarpC> dq(n_per, WarpC{});
  for (int kk = 0; kk < at::kBwdKeys; kk += at::kMmaK) {
    WarpA a;
    load_a(a, sm.ds, mt * at::kMmaM, kk);
    for (int n = 0; n < n_per; n++) {
      WarpB b;
      load_b(b, sm.kt, (n_first + n) * at::kMmaN, kk);
      mma(dq[n], a, b);
    }
  }
  for (int n = 0; n < n_per; n++) {
    for (int lane = 0; lane < 32; lane++) {
      for (int i = 0; i < 4; i++) {
        const at::RowCol rc = at::mma_c_coord(lane, i);
        const int t = t0 + mt * at::kMmaM + rc.row, d = (n_first + n) * at::kMmaN + rc.col;
        if (t < T && d < hs) dq_acc[(bh * T + t) * hs + d] += dq[n][lane][i] * scale;
      }
    }
  }
}

// The backward CTA that owns keys [j0, j0 + 64) of head bh.
void backward_cta(std::vector<float>& dqkv, std::vector<float>& dq_acc, const std::vector<float>& d_rows,
                  const std::vector<float>& dout, const std::vector<float>& qkv, const std::vector<float>& lse,
                  const Shape& p, Storage st, int bh, int j0) {
  const int hs = p.C / p.NH, D = at::padded_head_size(hs), Bq = at::bwd_query_tile(D);
  const std::size_t ld = 3 * std::size_t(p.C);
  const float scale = 1.0f / std::sqrt(float(hs)), scale_log2 = scale * kLog2e;
  const Head hd = head_of(p, int(bh));
  BwdSmem sm(D, Bq);
  load_tile(&sm.k, &sm.kt, qkv.data() + hd.qkv_off + p.C, ld, j0, at::kBwdKeys, p.T, hs, D);
  load_tile(&sm.v, nullptr, qkv.data() + hd.qkv_off + 2 * p.C, ld, j0, at::kBwdKeys, p.T, hs, D);
  std::vector<std::vector<WarpC>> dk(at::kWarps, std::vector<WarpC>(D / at::kMmaN, WarpC{})), dv = dk;
  for (int qt = at::backward_first_query_tile(j0, Bq); qt < at::backward_query_tiles(p.T, Bq); qt++) {
    const int t0 = qt * Bq;
    load_tile(&sm.q, &sm.qt, qkv.data() + hd.qkv_off, ld, t0, Bq, p.T, hs, D);
    load_tile(&sm.dO, &sm.dOt, dout.data() + hd.o_off, p.C, t0, Bq, p.T, hs, D);
    for (int i = 0; i < Bq; i++) {
      const bool in = t0 + i < p.T;
      sm.lse[i] = in ? lse[hd.bh * p.T + t0 + i] * kLog2e : 0.0f;
      sm.d[i] = in ? d_rows[hd.bh * p.T + t0 + i] : 0.0f;
    }
    for (int w = 0; w < at::kWarps; w++) backward_tile(dk[w], dv[w], sm, w, j0, t0, p.T, scale_log2, D, Bq, st);
    for (int w = 0; w < at::kWarps; w++) backward_dq(dq_acc, sm, w, hd.bh, t0, p.T, hs, scale, D, Bq);
  }
  for (int w = 0; w < at::kWarps; w++) {
    for (int lane = 0; lane < 32; lane++) {
      for (int r = 0; r < 2; r++) {
        const int j = j0 + w * at::kMmaM + at::group_id(lane) + 8 * r;
        if (j >= p.T) continue;
        const std::size_t row = hd.qkv_off + std::size_t(j) * ld + p.C;
        for (int n = 0; n < D / at::kMmaN; n++) {
          const int d = n * at::kMmaN + 2 * at::thread_in_group(lane);
          if (d >= hs) continue;
          for (int e = 0; e < 2; e++) {
            dqkv[row + d + e] = round_to(st, dk[w][n][lane][2 * r + e] * scale);
            dqkv[row + p.C + d + e] = round_to(st, dv[w][n][lane][2 * r + e]);
          }
        }
      }
    }
  }
}

}  // namespace

void backward(std::vector<float>& dqkv, const std::vector<float>& dout, const std::vector<float>& qkv,
              const std::vector<float>& out, const std::vector<float>& lse, const Shape& p, Storage st) {
  const int hs = p.C / p.NH, rows = p.B * p.NH * p.T;
  // attention_backward_prep_kernel: D = rowsum(dout * out) (lane-strided partials, then summed).
  std::vector<float> d_rows(rows), dq_acc(std::size_t(rows) * hs, 0.0f);
  for (int row = 0; row < rows; row++) {
    const int bh = row / p.T, t = row % p.T, b = bh / p.NH, h = bh % p.NH;
    const std::size_t at_row = (std::size_t(b) * p.T + t) * p.C + std::size_t(h) * hs;
    float d = 0.0f;
    for (int c = 0; c < hs; c++) d += dout[at_row + c] * out[at_row + c];
    d_rows[row] = d;
  }
  for (int bh = 0; bh < p.B * p.NH; bh++) {
    for (int j0 = 0; j0 < p.T; j0 += at::kBwdKeys) backward_cta(dqkv, dq_acc, d_rows, dout, qkv, lse, p, st, bh, j0);
  }
  // attention_dq_store_kernel.
  for (int b = 0; b < p.B; b++) {
    for (int t = 0; t < p.T; t++) {
      for (int c = 0; c < p.C; c++) {
        const int h = c / hs, d = c % hs;
        dqkv[(std::size_t(b) * p.T + t) * 3 * p.C + c] =
            round_to(st, dq_acc[((std::size_t(b) * p.NH + h) * p.T + t) * hs + d]);
      }
    }
  }
}

}  // namespace llmrt::kernels::mma_emulation
