// The CUDA kernels' host-side decisions, checked on every machine (the headers are plain C++):
// the choice between 128-bit and scalar access (kernels/cuda/vector_access.h) must refuse the
// vector path exactly where a pointer or a row stride would break 16-byte alignment, the flat
// split must cover every element once, and the column-sum grid (launch_plan.h) must cover
// every (row, column) once within the hardware's grid limits.
#define BOOST_TEST_MODULE kernels_cuda_host_plans
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include "cuda/launch_plan.h"
#include "cuda/vector_access.h"

namespace cu = llmrt::kernels::cuda;

namespace {
// A 16-byte aligned arena, so offsets are the only source of misalignment.
struct alignas(16) Arena {
  unsigned char bytes[4096];
};
}  // namespace

BOOST_AUTO_TEST_CASE(step_is_sixteen_bytes_of_the_narrowest_type) {
  BOOST_TEST(cu::vector_elems({4}) == 4);     // fp32: 4 floats
  BOOST_TEST(cu::vector_elems({2}) == 8);     // bf16 / f16: 8 halves
  BOOST_TEST(cu::vector_elems({4, 2}) == 8);  // fp32 beside bf16: 8 (two float accesses)
  BOOST_TEST(cu::vector_elems({2, 4}) == 8);
  BOOST_TEST(cu::vector_elems({8, 4}) == 4);
}

BOOST_AUTO_TEST_CASE(pointers_at_element_offsets_of_a_flat_buffer) {
  static Arena arena;
  const auto* base = reinterpret_cast<const std::uint16_t*>(arena.bytes);  // a bf16 parameter buffer
  BOOST_TEST(cu::flat_vectorizable({base}));
  BOOST_TEST(cu::flat_vectorizable({base + 8, base + 768}));  // 16 and 1536 bytes in
  BOOST_TEST(!cu::flat_vectorizable({base + 1}));             // 2 bytes in
  BOOST_TEST(!cu::flat_vectorizable({base, base + 771}));     // one bad pointer refuses the call
  BOOST_TEST(cu::flat_vectorizable({base, nullptr}));         // an absent operand does not count
  const auto* floats = reinterpret_cast<const float*>(arena.bytes);
  BOOST_TEST(cu::flat_vectorizable({floats + 4}));
  BOOST_TEST(!cu::flat_vectorizable({floats + 2}));
}

BOOST_AUTO_TEST_CASE(rows_need_a_stride_that_keeps_each_row_aligned) {
  static Arena arena;
  const void* p = arena.bytes;
  BOOST_TEST(cu::rows_vectorizable(768, 8, {p}));     // GPT-2's C at bf16
  BOOST_TEST(!cu::rows_vectorizable(771, 8, {p}));    // an odd test C: scalar
  BOOST_TEST(!cu::rows_vectorizable(771, 4, {p}));
  BOOST_TEST(cu::rows_vectorizable(50304, 8, {p}));   // the padded vocabulary
  BOOST_TEST(!cu::rows_vectorizable(50257, 8, {p}));  // the real one, unpadded
  BOOST_TEST(!cu::rows_vectorizable(770, 4, {p}));    // fp32 rows of 770: every other row at 8 bytes
  BOOST_TEST(!cu::rows_vectorizable(768, 8, {arena.bytes + 2}));
  BOOST_TEST(!cu::rows_vectorizable(768, 0, {p}));
}

// Every element in [0, n) is visited exactly once, by a pack or by the scalar tail.
BOOST_AUTO_TEST_CASE(flat_split_covers_each_element_once) {
  for (const std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(8), std::size_t(2001),
                              std::size_t(1024 * 768)}) {
    for (const int step : {4, 8}) {
      for (const bool vec : {true, false}) {
        std::vector<int> seen(n, 0);
        const cu::FlatSplit split = cu::flat_split(n, step, vec);
        for (std::size_t p = 0; p < split.packs; p++) {
          for (int k = 0; k < step; k++) {
            BOOST_TEST_REQUIRE(p * step + k < n);
            seen[p * step + k]++;
          }
        }
        for (std::size_t i = split.scalar_from; i < n; i++) seen[i]++;
        for (std::size_t i = 0; i < n; i++) {
          BOOST_TEST_REQUIRE(seen[i] == 1, "n " << n << " step " << step << " vec " << vec << ": element " << i);
        }
        if (vec) BOOST_TEST(n - split.scalar_from < std::size_t(step));  // the tail is shorter than a pack
      }
    }
  }
}

// Replays the column-sum kernel's loops on the host: each (row, column) of (N, C) is added by
// exactly one thread, and the grid stays inside CUDA's limits, from one row to GPT-2's 16K.
BOOST_AUTO_TEST_CASE(column_sums_grid_covers_each_element_once) {
  constexpr int kY = cu::ColumnSumsGrid::kRowsPerBlock;
  for (const int sms : {1, 132}) {
    for (const std::size_t N : {1, 21, 100, 1024, 16384}) {
      for (const std::size_t C : {1, 35, 768, 771}) {
        const cu::ColumnSumsGrid g = cu::column_sums_grid(N, C, sms);
        BOOST_TEST_REQUIRE(g.tiles * std::size_t(32) >= C);
        BOOST_TEST_REQUIRE(g.tiles * std::size_t(32) < C + 32);
        BOOST_TEST_REQUIRE((g.row_blocks >= 1 && g.row_blocks <= 65535u));
        std::vector<int> seen(N, 0);  // per row, for one column (columns are independent: x alone picks them)
        for (unsigned by = 0; by < g.row_blocks; by++) {
          for (int ty = 0; ty < kY; ty++) {
            for (std::size_t row = by * std::size_t(kY) + ty; row < N; row += std::size_t(g.row_blocks) * kY) {
              seen[row]++;
            }
          }
        }
        for (std::size_t row = 0; row < N; row++) {
          BOOST_TEST_REQUIRE(seen[row] == 1, "N " << N << " C " << C << " sms " << sms << ": row " << row);
        }
        // Blocks over at least 64 rows unless a single block: fewer atomics than rows.
        BOOST_TEST((g.row_blocks == 1 || N / g.row_blocks >= 64));
      }
    }
  }
}
