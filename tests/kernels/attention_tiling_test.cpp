// The tensor-core attention kernels' index math and algorithm, checked on the CPU (no GPU needed):
// attention_tiling.h against naive enumerations of the PTX fragment tables, shared-memory banks
// and causal tile bounds; then the CPU emulation of the kernels (attention_mma_emulation.h: the
// same tiles, fragment loads, online-softmax order and roundings) against kernels/ref, forward
// and backward, at head sizes 8..128 (48/80 and 40 with a padded tail), T in {1, 17, 64, 200,
// 1024}, B * NH > 1, for fp32, bf16 and f16 storage.
#define BOOST_TEST_MODULE attention_tiling
#include <boost/test/unit_test.hpp>

#include <set>
#include <sstream>

#include "attention_mma_emulation.h"
#include "kernels/kernel_test_util.h"
#include "ref/kernels_ref.h"

namespace at = llmrt::kernels::attention_tiling;
namespace emu = llmrt::kernels::mma_emulation;
using llmrt::kernels::test::random_floats;
using llmrt::kernels::test::rms;

namespace {

constexpr int kPaddedHeadSizes[] = {16, 32, 48, 64, 80, 96, 112, 128};

// Each (row, col) of a rows x cols operand is held by exactly one (lane, element).
template <typename Coord>
void check_covers_once(int rows, int cols, int elems, Coord coord, const char* what) {
  std::set<std::pair<int, int>> seen;
  for (int lane = 0; lane < 32; lane++) {
    for (int i = 0; i < elems; i++) {
      const at::RowCol rc = coord(lane, i);
      BOOST_TEST_REQUIRE((rc.row >= 0 && rc.row < rows && rc.col >= 0 && rc.col < cols), what << " out of range");
      BOOST_TEST(seen.insert({rc.row, rc.col}).second, what << ": (" << rc.row << ", " << rc.col << ") twice");
    }
  }
  BOOST_TEST(int(seen.size()) == rows * cols, what);
}

}  // namespace

BOOST_AUTO_TEST_CASE(fragments_cover_each_element_once) {
  check_covers_once(16, 16, 8, at::mma_a_coord, "A");
  check_covers_once(16, 8, 4, at::mma_b_coord, "B");
  check_covers_once(16, 8, 4, at::mma_c_coord, "C");
}

// The 32-bit register pairs the kernels load are elements (2r, 2r+1) in the PTX order.
BOOST_AUTO_TEST_CASE(register_pairs_follow_the_ptx_order) {
  for (int lane = 0; lane < 32; lane++) {
    for (int reg = 0; reg < 4; reg++) {
      const at::RowCol lo = at::mma_a_coord(lane, 2 * reg), hi = at::mma_a_coord(lane, 2 * reg + 1);
      BOOST_TEST((lo.row == at::a_reg_row(lane, reg) && lo.col == at::a_reg_col(lane, reg)));
      BOOST_TEST((hi.row == lo.row && hi.col == lo.col + 1));
    }
    for (int reg = 0; reg < 2; reg++) {
      const at::RowCol lo = at::mma_b_coord(lane, 2 * reg), hi = at::mma_b_coord(lane, 2 * reg + 1);
      BOOST_TEST((lo.row == at::b_reg_k(lane, reg) && lo.col == at::b_reg_n(lane)));
      BOOST_TEST((hi.col == lo.col && hi.row == lo.row + 1));
    }
  }
}

// FlashAttention-2's reuse: C tiles n and n+1 (columns 8n.. and 8n+8..) are the A fragment.
BOOST_AUTO_TEST_CASE(two_c_tiles_are_one_a_fragment) {
  for (int lane = 0; lane < 32; lane++) {
    for (int reg = 0; reg < 4; reg++) {
      for (int half = 0; half < 2; half++) {
        const at::RowCol c = at::mma_c_coord(lane, at::a_from_c_elem(reg) + half);
        const at::RowCol a = at::mma_a_coord(lane, 2 * reg + half);
        BOOST_TEST((c.row == a.row && c.col + 8 * at::a_from_c_tile(reg) == a.col), "lane " << lane << " reg " << reg);
      }
    }
  }
}

// A fragment load (32 lanes, one 32-bit word each) touches 32 distinct banks for every stride
// the kernels use, and the predicate the kernels static_assert agrees with the enumeration.
BOOST_AUTO_TEST_CASE(fragment_loads_hit_32_banks) {
  auto conflict_free = [](int stride) {
    for (int reg = 0; reg < 4; reg++) {
      std::set<int> a_banks, b_banks;
      for (int lane = 0; lane < 32; lane++) {
        a_banks.insert((at::a_reg_row(lane, reg) * stride + at::a_reg_col(lane, reg)) / 2 % 32);
        if (reg < 2) b_banks.insert((at::b_reg_n(lane) * stride + at::b_reg_k(lane, reg)) / 2 % 32);
      }
      if (a_banks.size() != 32 || (reg < 2 && b_banks.size() != 32)) return false;
    }
    return true;
  };
  for (int stride = 8; stride <= 264; stride += 8) {
    BOOST_TEST(at::fragment_loads_conflict_free(stride) == conflict_free(stride), "stride " << stride);
  }
  for (int D : kPaddedHeadSizes) {
    BOOST_TEST(conflict_free(at::smem_stride(D)), "head size " << D);
    BOOST_TEST(conflict_free(at::smem_stride(at::bwd_query_tile(D))));
  }
  BOOST_TEST(conflict_free(at::smem_stride(at::kFwdKeys)));
  BOOST_TEST(conflict_free(at::smem_stride(at::kBwdKeys)));
}

// load_tile's stores: a warp's 16-byte row-major stores (4 phases of 8 lanes) and its 2-byte
// transposed stores hit every bank at most once (lanes writing two halves of one word share it);
// and the thread-iterations cover each (row, chunk) of the tile exactly once.
BOOST_AUTO_TEST_CASE(tile_loads_cover_the_tile_and_store_without_conflicts) {
  for (int D : kPaddedHeadSizes) {
    const int chunks = D / 8;
    for (int rows : {32, 64}) {
      for (bool transposed : {false, true}) {
        std::set<std::pair<int, int>> seen;
        for (int idx = 0; idx < rows * chunks; idx++) {
          seen.insert({at::tile_load_row(idx, rows, chunks, transposed),
                       at::tile_load_col(idx, rows, chunks, transposed)});
        }
        BOOST_TEST(int(seen.size()) == rows * chunks);
        if (!transposed) continue;
        const int S = at::smem_stride(D), St = at::smem_stride(rows);
        for (int warp0 = 0; warp0 < rows * chunks; warp0 += 32) {
          for (int phase = 0; phase < 4; phase++) {  // uint4 stores: 8 lanes x 4 words
            std::set<int> banks;
            for (int lane = 8 * phase; lane < 8 * phase + 8; lane++) {
              const int idx = warp0 + lane, r = at::tile_load_row(idx, rows, chunks, true);
              const int word = (r * S + at::tile_load_col(idx, rows, chunks, true)) / 2;
              for (int w = 0; w < 4; w++) banks.insert((word + w) % 32);
            }
            BOOST_TEST(banks.size() == 32u, "row-major, D " << D << " rows " << rows);
          }
          for (int i = 0; i < 8; i++) {  // the transposed 2-byte stores of element i
            std::set<int> words;
            std::set<int> banks;
            for (int lane = 0; lane < 32; lane++) {
              const int idx = warp0 + lane;
              const int word = ((at::tile_load_col(idx, rows, chunks, true) + i) * St +
                                at::tile_load_row(idx, rows, chunks, true)) / 2;
              if (words.insert(word).second) BOOST_TEST(banks.insert(word % 32).second, "transposed, D " << D);
            }
          }
        }
      }
    }
  }
}

// Causal bounds against brute force: every live score is inside a visited tile, no visited tile
// is past the last live key, and a tile said to need no mask has only live scores.
BOOST_AUTO_TEST_CASE(causal_tile_bounds_match_enumeration) {
  for (int T : {1, 2, 15, 16, 17, 63, 64, 65, 100, 127, 128, 129, 200, 257}) {
    for (int q0 = 0; q0 < T; q0 += at::kFwdRows) {
      int last_key = -1;
      for (int t = q0; t < std::min(q0 + at::kFwdRows, T); t++) last_key = t;  // keys <= t < T
      BOOST_TEST(at::forward_key_tiles(q0, at::kFwdRows, at::kFwdKeys, T) == last_key / at::kFwdKeys + 1);
      for (int k0 = 0; k0 <= last_key; k0 += at::kFwdKeys) {
        if (at::forward_tile_needs_mask(q0, k0, at::kFwdKeys, T)) continue;
        for (int t = q0; t < std::min(q0 + at::kFwdRows, T); t++) {
          for (int j = k0; j < k0 + at::kFwdKeys; j++) BOOST_TEST_REQUIRE(at::score_live(t, j, T));
        }
      }
    }
    for (int Bq : {32, 64}) {
      for (int j0 = 0; j0 < T; j0 += at::kBwdKeys) {
        const int first = at::backward_first_query_tile(j0, Bq);
        BOOST_TEST(first * Bq <= j0);                   // the tile with query j0 is visited
        BOOST_TEST((first + 1) * Bq > j0);               // earlier tiles have no live score
        BOOST_TEST(at::backward_query_tiles(T, Bq) * Bq >= T);
        for (int qt = first; qt < at::backward_query_tiles(T, Bq); qt++) {
          if (at::backward_tile_needs_mask(j0, at::kBwdKeys, qt * Bq, Bq, T)) continue;
          for (int t = qt * Bq; t < qt * Bq + Bq; t++) {
            for (int j = j0; j < j0 + at::kBwdKeys; j++) BOOST_TEST_REQUIRE(at::score_live(t, j, T));
          }
        }
      }
    }
  }
}

// Shared memory per CTA fits sm_80's 163 KiB opt-in limit; the dQ split covers each
// (m-tile, n-tile) of a query tile exactly once.
BOOST_AUTO_TEST_CASE(budgets_and_dq_split) {
  for (int D : kPaddedHeadSizes) {
    BOOST_TEST(at::forward_smem_bytes(D) <= 163 * 1024, "forward, head size " << D);
    BOOST_TEST(at::backward_smem_bytes(D) <= 163 * 1024, "backward, head size " << D);
    const int Bq = at::bwd_query_tile(D), n_per = at::dq_n_tiles_per_warp(D, Bq);
    std::set<std::pair<int, int>> seen;
    for (int w = 0; w < at::kWarps; w++) {
      const int mt = w % at::dq_m_tiles(Bq), n_first = (w / at::dq_m_tiles(Bq)) * n_per;
      for (int n = n_first; n < n_first + n_per; n++) BOOST_TEST(seen.insert({mt, n}).second);
    }
    BOOST_TEST(int(seen.size()) == (Bq / 16) * (D / 8), "head size " << D);
  }
}

namespace {

// Unit roundoff of each storage type, and how many roundings a result goes through on its way
// (inputs, P or dS as an mma operand, the stored output): tolerances are stated in these.
double eps_of(emu::Storage s) {
  return s == emu::Storage::kBf16 ? 1.0 / 256 : s == emu::Storage::kF16 ? 1.0 / 2048 : 0.0;
}
const char* name_of(emu::Storage s) {
  return s == emu::Storage::kBf16 ? "bf16" : s == emu::Storage::kF16 ? "f16" : "fp32";
}

// |got - want| <= (roundings * eps + 8 * eps32 * len) * (|want| + rms(want)) element-wise.
void check_close(const std::vector<float>& got, const std::vector<float>& want, double roundings, emu::Storage s,
                 int len, const std::string& what) {
  llmrt::kernels::test::require_nonzero(want, what + " (reference)");
  llmrt::kernels::test::require_nonzero(got, what + " (emulation)");
  const double scale = rms(want), tol = roundings * eps_of(s) + 8 * llmrt::kernels::test::kEps32 * len;
  double worst = 0.0;
  int reported = 0;
  for (std::size_t i = 0; i < got.size(); i++) {
    const double err = std::fabs(double(got[i]) - want[i]), allowed = tol * (std::fabs(want[i]) + scale);
    worst = std::max(worst, err / (std::fabs(want[i]) + scale));
    if (!(err <= allowed) && reported++ < 5) {
      BOOST_ERROR(what << "[" << i << "]: got " << got[i] << ", want " << want[i] << ", allowed " << allowed);
    }
  }
  BOOST_TEST_MESSAGE(what << ": worst relative error " << worst << " (allowed " << tol << ")");
}

// The emulated kernels against kernels/ref on one shape. The backward starts from the
// reference's forward (out rounded to the storage type, as the GPU stores it), so each pass
// is checked on its own.
void check_emulation(const emu::Shape& p, emu::Storage s, unsigned seed) {
  std::ostringstream tag;
  tag << name_of(s) << " (B" << p.B << " T" << p.T << " hs" << p.C / p.NH << " NH" << p.NH << ") ";
  std::mt19937 rng(seed);
  const int len = p.T + p.C / p.NH;  // fp32 sums: over keys (or queries) and over the head's dims
  const auto qkv = emu::round_all(s, random_floats(std::size_t(p.B) * p.T * 3 * p.C, rng, -2.0f, 2.0f));
  std::vector<float> out(std::size_t(p.B) * p.T * p.C), lse(std::size_t(p.B) * p.NH * p.T);
  llmrt::kernels::ref::attention_forward(out.data(), lse.data(), qkv.data(), p.B, p.T, p.C, p.NH);
  std::vector<float> e_out(out.size(), NAN), e_lse(lse.size(), NAN);
  emu::forward(e_out, e_lse, qkv, p, s);
  check_close(e_out, out, 3, s, len, tag.str() + "out");       // P rounded, out rounded, + slack
  check_close(e_lse, lse, 1, s, len, tag.str() + "lse");       // fp32 all the way: eps32 term only

  const auto out_s = emu::round_all(s, out), dout = emu::round_all(s, random_floats(out.size(), rng));
  std::vector<float> dqkv(qkv.size(), 0.0f), e_dqkv(qkv.size(), NAN);
  llmrt::kernels::ref::attention_backward(dqkv.data(), dout.data(), qkv.data(), out_s.data(), lse.data(), p.B, p.T,
                                          p.C, p.NH);
  emu::backward(e_dqkv, dout, qkv, out_s, lse, p, s);
  // P and dS rounded as mma operands and the result rounded; D = rowsum(dout * out) from the
  // stored (rounded) out, as FlashAttention does, while the reference sums p * dp exactly. That
  // D error is coherent along a row (dq_t gets -scale * dD_t * sum_j p_tj k_j) and about doubles
  // the error at T >= 200 (measured, bf16: 0.025 with fp32 out, 0.048 with bf16 out at T 1024):
  // 16 roundings.
  check_close(e_dqkv, dqkv, 16, s, len, tag.str() + "dqkv");
}

}  // namespace

BOOST_AUTO_TEST_CASE(emulation_matches_reference_at_every_head_size) {
  unsigned seed = 100;
  for (emu::Storage s : {emu::Storage::kFp32, emu::Storage::kBf16, emu::Storage::kF16}) {
    for (int hs : {8, 40, 48, 64, 80, 96, 128}) {
      for (int T : {1, 17, 64, 200}) check_emulation({2, T, 2 * hs, 2}, s, seed++);
    }
  }
}

// One head pair of GPT-2 124M (hs 64) at the benchmark's T = 1024, and hs 128 at T = 1024.
BOOST_AUTO_TEST_CASE(emulation_matches_reference_at_t1024) {
  check_emulation({1, 1024, 128, 2}, emu::Storage::kBf16, 200);
  check_emulation({1, 1024, 256, 2}, emu::Storage::kF16, 202);
}
