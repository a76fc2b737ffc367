// The CUDA matmuls' host-side rules (kernels/cuda/gemm_rules.h), on the CPU: the column-major
// mapping of each linear-layer GEMM (run through a host GEMM that uses the fallback kernel's own
// offsets) against the reference kernels, the op table's row-major batched GEMM mapping, the
// plan key, the GELU epilogue rules, which cublasLtMatmul statuses run unfused and the
// bias-gradient grid. Needs no GPU: these are the parts of the CUDA path a CPU can check.
#define BOOST_TEST_MODULE gemm_rules
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "cuda/gemm_rules.h"
#include "kernels/kernel_test_util.h"
#include "ref/kernels_ref.h"

namespace cu = llmrt::kernels::cuda;
namespace ref = llmrt::kernels::ref;
using llmrt::kernels::test::check_close;
using llmrt::kernels::test::random_floats;

namespace {

// What gemm_fallback_kernel computes, on the host: D = op(A) op(B) + beta D, fp32.
void host_gemm(const cu::GemmShape& g, const std::vector<float>& a, const std::vector<float>& b,
               std::vector<float>& d, float beta) {
  for (int j = 0; j < g.n; j++) {
    for (int i = 0; i < g.m; i++) {
      float acc = 0.0f;
      for (int p = 0; p < g.k; p++) acc += a.at(cu::gemm_a_offset(g, i, p)) * b.at(cu::gemm_b_offset(g, p, j));
      float& out = d.at(cu::gemm_d_offset(g, i, j));
      out = acc + (beta != 0.0f ? beta * out : 0.0f);
    }
  }
}

// The largest offset each operand's index math reaches must be the last element of the stored
// tensor: no read or write past it, none short of it (a wrong ld shows as one or the other).
void check_extent(const cu::GemmShape& g, std::size_t a_size, std::size_t b_size, std::size_t d_size,
                  const std::string& what) {
  std::size_t a_max = 0, b_max = 0, d_max = 0;
  for (int i = 0; i < g.m; i++)
    for (int p = 0; p < g.k; p++) a_max = std::max(a_max, cu::gemm_a_offset(g, i, p));
  for (int p = 0; p < g.k; p++)
    for (int j = 0; j < g.n; j++) b_max = std::max(b_max, cu::gemm_b_offset(g, p, j));
  for (int i = 0; i < g.m; i++)
    for (int j = 0; j < g.n; j++) d_max = std::max(d_max, cu::gemm_d_offset(g, i, j));
  BOOST_TEST(a_max + 1 == a_size, what << ": A extent");
  BOOST_TEST(b_max + 1 == b_size, what << ": B extent");
  BOOST_TEST(d_max + 1 == d_size, what << ": D extent");
}

struct Shape {
  int N, C, OC;
};
const Shape kShapes[] = {{7, 5, 3}, {13, 11, 17}, {1, 9, 4}, {32, 24, 40}};

}  // namespace

BOOST_AUTO_TEST_CASE(forward_mapping_matches_reference) {
  std::mt19937 rng(1);
  for (const auto& [N, C, OC] : kShapes) {
    const std::string tag = "forward (" + std::to_string(N) + "," + std::to_string(C) + "," + std::to_string(OC) + ")";
    const auto inp = random_floats(std::size_t(N) * C, rng), weight = random_floats(std::size_t(OC) * C, rng);
    std::vector<float> want(std::size_t(N) * OC), got(want.size(), 123.0f);  // beta 0 ignores the junk
    ref::matmul_forward(want.data(), inp.data(), weight.data(), nullptr, N, C, OC);
    const cu::GemmShape g = cu::forward_gemm(N, C, OC);
    host_gemm(g, weight, inp, got, 0.0f);
    check_close(got, want, C, tag);
    check_extent(g, weight.size(), inp.size(), want.size(), tag);
  }
}

BOOST_AUTO_TEST_CASE(backward_input_mapping_matches_reference) {
  std::mt19937 rng(2);
  for (const auto& [N, C, OC] : kShapes) {
    const std::string tag = "dinp (" + std::to_string(N) + "," + std::to_string(C) + "," + std::to_string(OC) + ")";
    const auto dout = random_floats(std::size_t(N) * OC, rng), weight = random_floats(std::size_t(OC) * C, rng);
    auto want = random_floats(std::size_t(N) * C, rng);  // += onto non-zero values: beta 1
    auto got = want;
    ref::matmul_backward_input(want.data(), dout.data(), weight.data(), N, C, OC);
    const cu::GemmShape g = cu::backward_input_gemm(N, C, OC);
    host_gemm(g, weight, dout, got, 1.0f);
    check_close(got, want, OC, tag);
    check_extent(g, weight.size(), dout.size(), want.size(), tag);
  }
}

BOOST_AUTO_TEST_CASE(backward_weight_mapping_matches_reference) {
  std::mt19937 rng(3);
  for (const auto& [N, C, OC] : kShapes) {
    const std::string tag = "dweight (" + std::to_string(N) + "," + std::to_string(C) + "," + std::to_string(OC) + ")";
    const auto dout = random_floats(std::size_t(N) * OC, rng), inp = random_floats(std::size_t(N) * C, rng);
    auto want = random_floats(std::size_t(OC) * C, rng);
    auto got = want;
    ref::matmul_backward_weight(want.data(), nullptr, dout.data(), inp.data(), N, C, OC);
    const cu::GemmShape g = cu::backward_weight_gemm(N, C, OC);
    host_gemm(g, inp, dout, got, 1.0f);
    check_close(got, want, N, tag);
    check_extent(g, inp.size(), dout.size(), want.size(), tag);
  }
}

BOOST_AUTO_TEST_CASE(alignment_is_the_largest_power_of_two_up_to_256) {
  BOOST_TEST(cu::alignment_of(std::uintptr_t(0)) == 0);
  BOOST_TEST(cu::alignment_of(std::uintptr_t(0x7f0000001000)) == 256);
  BOOST_TEST(cu::alignment_of(std::uintptr_t(0x7f0000001100)) == 256);
  BOOST_TEST(cu::alignment_of(std::uintptr_t(0x7f0000001080)) == 128);
  BOOST_TEST(cu::alignment_of(std::uintptr_t(0x7f0000001010)) == 16);
  BOOST_TEST(cu::alignment_of(std::uintptr_t(0x7f0000001006)) == 2);
  BOOST_TEST(cu::alignment_of(std::uintptr_t(0x7f0000001003)) == 1);
}

BOOST_AUTO_TEST_CASE(plan_key_sees_alignments_and_only_the_epilogues_operands) {
  alignas(256) static unsigned char buffer[1024];
  const cu::GemmShape g = cu::forward_gemm(8192, 768, 3072);
  cu::GemmOperands ops{buffer, buffer + 256, buffer + 512, buffer + 2, buffer + 768};
  const auto plain = cu::make_gemm_key(g, cu::GemmDtype::kBf16, cu::GemmDtype::kBf16, cu::GemmEpilogue::kNone,
                                       false, 3072, ops);
  BOOST_TEST(plain.align_bias == 0);  // no bias in the epilogue: its alignment must not split plans
  BOOST_TEST(plain.align_aux == 0);
  BOOST_TEST(plain.aux_ld == 0);
  BOOST_TEST(plain.align_a == 256);
  const auto gelu = cu::make_gemm_key(g, cu::GemmDtype::kBf16, cu::GemmDtype::kBf16,
                                      cu::GemmEpilogue::kGeluAuxBias, false, 3072, ops);
  BOOST_TEST(gelu.align_bias == 2);
  BOOST_TEST(gelu.align_aux == 256);
  BOOST_TEST(gelu.aux_ld == 3072);
  BOOST_TEST(!(gelu == plain));

  cu::GemmOperands moved = ops;  // other pointers, same alignments: the same plan
  moved.a = buffer + 512;
  moved.d = buffer;
  BOOST_TEST((cu::make_gemm_key(g, cu::GemmDtype::kBf16, cu::GemmDtype::kBf16, cu::GemmEpilogue::kNone, false, 0,
                                moved) == plain));
  cu::GemmOperands odd = ops;  // a weight at an odd element offset: another plan
  odd.a = buffer + 2;
  const auto odd_key =
      cu::make_gemm_key(g, cu::GemmDtype::kBf16, cu::GemmDtype::kBf16, cu::GemmEpilogue::kNone, false, 0, odd);
  BOOST_TEST(!(odd_key == plain));
  BOOST_TEST(((odd_key < plain) != (plain < odd_key)));  // a strict order: std::map keeps both
  const auto accumulate =
      cu::make_gemm_key(g, cu::GemmDtype::kBf16, cu::GemmDtype::kBf16, cu::GemmEpilogue::kNone, true, 0, ops);
  BOOST_TEST(!(accumulate == plain));
  const auto fp16 =
      cu::make_gemm_key(g, cu::GemmDtype::kF16, cu::GemmDtype::kF16, cu::GemmEpilogue::kNone, false, 0, ops);
  BOOST_TEST(!(fp16 == plain));
}

BOOST_AUTO_TEST_CASE(describe_names_the_shape_types_and_epilogue) {
  alignas(256) static unsigned char buffer[512];
  const cu::GemmOperands ops{buffer + 2, buffer, buffer + 256, nullptr, nullptr};
  const auto key = cu::make_gemm_key(cu::backward_weight_gemm(8192, 3072, 768), cu::GemmDtype::kBf16,
                                     cu::GemmDtype::kF32, cu::GemmEpilogue::kNone, true, 0, ops);
  const std::string text = cu::describe(key);
  BOOST_TEST_MESSAGE(text);
  for (const char* part : {"m=3072 n=768 k=8192", "A(N, lda 3072)", "B(T, ldb 768)", "D(ldd 3072)",
                           "bf16 -> fp32", "epilogue none", "beta 1", "alignments A 2 B 256 D 256"}) {
    BOOST_TEST(text.find(part) != std::string::npos, "'" << part << "' missing from: " << text);
  }
}

BOOST_AUTO_TEST_CASE(gelu_epilogues_need_an_aligned_aux_with_ld_a_multiple_of_8) {
  const std::uintptr_t aligned = 0x7f0000001000;
  for (const auto e : {cu::GemmEpilogue::kNone, cu::GemmEpilogue::kBias}) {
    BOOST_TEST(cu::check_fused_epilogue(e, 53, 0, 0).fusable);  // no aux involved: the heuristic decides
  }
  for (const auto e : {cu::GemmEpilogue::kGeluAuxBias, cu::GemmEpilogue::kDGelu}) {
    BOOST_TEST(cu::check_fused_epilogue(e, 3072, 3072, aligned).fusable);  // GPT-2's MLP
    BOOST_TEST(cu::check_fused_epilogue(e, 3072, 3072, aligned + 16).fusable);
    const auto odd_ld = cu::check_fused_epilogue(e, 53, 53, aligned);
    BOOST_TEST(!odd_ld.fusable);
    BOOST_TEST(std::string(odd_ld.reason).find("multiple of 8") != std::string::npos);
    const auto short_ld = cu::check_fused_epilogue(e, 64, 56, aligned);
    BOOST_TEST(!short_ld.fusable);
    BOOST_TEST(std::string(short_ld.reason).find("row count") != std::string::npos);
    const auto misaligned = cu::check_fused_epilogue(e, 64, 64, aligned + 2);  // odd bf16 offset
    BOOST_TEST(!misaligned.fusable);
    BOOST_TEST(std::string(misaligned.reason).find("16-byte") != std::string::npos);
    BOOST_TEST(!cu::check_fused_epilogue(e, 64, 64, aligned + 8).fusable);
    BOOST_TEST(!cu::check_fused_epilogue(e, 64, 64, 0).fusable);
  }
}

// The op table's row-major GEMM (llmrt_gemm_args) through the column-major mapping the CUDA entry
// runs, against C = op(A) op(B) written out row-major, with padded leading dimensions and every
// transpose pair; beta 1 adds to C.
BOOST_AUTO_TEST_CASE(row_major_gemm_maps_onto_the_column_major_one) {
  std::mt19937 rng(7);
  const int m = 5, n = 7, k = 3, pad = 2;
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
      const auto a = random_floats(std::size_t(ta ? k : m) * lda, rng);
      const auto b = random_floats(std::size_t(tb ? n : k) * ldb, rng);
      const auto c0 = random_floats(std::size_t(m) * ldc, rng);
      std::vector<float> want = c0, got = c0;
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          float acc = 0.0f;
          for (int p = 0; p < k; p++) {
            acc += (ta ? a[std::size_t(p) * lda + i] : a[std::size_t(i) * lda + p]) *
                   (tb ? b[std::size_t(j) * ldb + p] : b[std::size_t(p) * ldb + j]);
          }
          want[std::size_t(i) * ldc + j] = acc + want[std::size_t(i) * ldc + j];
        }
      }
      const cu::GemmShape g = cu::row_major_gemm(ta, tb, m, n, k, lda, ldb, ldc);
      host_gemm(g, b, a, got, 1.0f);  // column-major A is the row-major B, and B the A
      const std::string tag = std::string("trans_a ") + (ta ? "1" : "0") + " trans_b " + (tb ? "1" : "0");
      check_close(got, want, k, tag);
      BOOST_TEST(g.m == n, tag);
      BOOST_TEST(g.n == m, tag);
    }
  }
}

// A status cublasLtMatmul returns for a plan the heuristic accepted: a fused epilogue's
// configuration refusal runs unfused; everything else is an error (and success runs).
BOOST_AUTO_TEST_CASE(matmul_refusals_fall_back_only_for_fused_epilogues) {
  using cu::MatmulOutcome;
  const int not_initialized = 1, alloc_failed = 3, arch_mismatch = 8, internal_error = 14;
  for (const auto e : {cu::GemmEpilogue::kNone, cu::GemmEpilogue::kBias, cu::GemmEpilogue::kGeluAuxBias,
                       cu::GemmEpilogue::kDGelu}) {
    const bool fused = e != cu::GemmEpilogue::kNone;
    const std::string tag = cu::epilogue_name(e);
    BOOST_TEST((cu::classify_matmul_status(e, cu::kCublasStatusSuccess) == MatmulOutcome::kRan), tag);
    for (const int refusal : {cu::kCublasStatusNotSupported, cu::kCublasStatusInvalidValue}) {
      BOOST_TEST((cu::classify_matmul_status(e, refusal) ==
                  (fused ? MatmulOutcome::kEpilogueRefused : MatmulOutcome::kFailed)),
                 tag << " status " << refusal);
    }
    for (const int failure :
         {cu::kCublasStatusExecutionFailed, not_initialized, alloc_failed, arch_mismatch, internal_error}) {
      BOOST_TEST((cu::classify_matmul_status(e, failure) == MatmulOutcome::kFailed), tag << " status " << failure);
    }
  }
}

// 16-byte loads only where every row's vectors are aligned: OC a multiple of the width, dout aligned.
BOOST_AUTO_TEST_CASE(bias_grad_vectorises_only_aligned_rows) {
  const std::uintptr_t aligned = 0x7f0000001000;
  BOOST_TEST(cu::bias_grad_vector_width(2, 768, aligned) == 8);
  BOOST_TEST(cu::bias_grad_vector_width(4, 768, aligned) == 4);
  BOOST_TEST(cu::bias_grad_vector_width(2, 50304, aligned + 16) == 8);
  BOOST_TEST(cu::bias_grad_vector_width(2, 53, aligned) == 1);   // rows start off the 16-byte grid
  BOOST_TEST(cu::bias_grad_vector_width(2, 772, aligned) == 1);  // 772 % 8 != 0
  BOOST_TEST(cu::bias_grad_vector_width(4, 772, aligned) == 4);  // 772 % 4 == 0
  BOOST_TEST(cu::bias_grad_vector_width(2, 768, aligned + 2) == 1);  // an odd bf16 offset
  BOOST_TEST(cu::bias_grad_vector_width(4, 768, aligned + 8) == 1);
}

// Every row and column is covered exactly once; the grid stays within a few waves of the GPU.
BOOST_AUTO_TEST_CASE(bias_grad_grid_covers_every_row_once) {
  for (const int width : {1, 4, 8}) {
    for (const int sm : {1, 108, 132}) {
      for (const int N : {1, 7, 63, 64, 65, 1000, 8192, 65537}) {
        for (const int OC : {1, 31, 33, 768, 2304, 50304}) {
          if (OC % width != 0) continue;  // bias_grad_vector_width never asks for it
          const cu::BiasGradGrid grid = cu::bias_grad_grid(N, OC, sm, width);
          const int columns = cu::kBiasGradThreadsX * width;
          const std::string tag = "N " + std::to_string(N) + " OC " + std::to_string(OC) + " sm " +
                                  std::to_string(sm) + " width " + std::to_string(width);
          BOOST_TEST_REQUIRE(grid.row_splits >= 1, tag);
          BOOST_TEST(grid.vector_width == width, tag);
          BOOST_TEST(grid.column_blocks * columns >= OC, tag);
          BOOST_TEST((grid.column_blocks - 1) * columns < OC, tag);
          BOOST_TEST(std::size_t(grid.row_splits) * grid.rows_per_split >= std::size_t(N), tag);
          BOOST_TEST((grid.row_splits - 1) * grid.rows_per_split < N, tag);  // no empty split
          BOOST_TEST(grid.row_splits <= 65535, tag);
          if (grid.row_splits > 1) {
            BOOST_TEST(grid.rows_per_split >= cu::kMinRowsPerSplit, tag);
            BOOST_TEST(grid.column_blocks * grid.row_splits <= 4 * sm + grid.column_blocks, tag);
          }
        }
      }
    }
  }
  const cu::BiasGradGrid gpt2 = cu::bias_grad_grid(8192, 768, 132, 8);  // 3 column blocks: split the rows
  BOOST_TEST(gpt2.column_blocks == 3);
  BOOST_TEST(gpt2.column_blocks * gpt2.row_splits >= 2 * 132);
}
