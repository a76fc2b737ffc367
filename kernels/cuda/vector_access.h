// The host's choice between the 128-bit (vector) and the scalar path of a CUDA kernel. Plain
// C++ (no CUDA headers) so tests/kernels checks it on every machine: weights sit at arbitrary
// element offsets of a flat parameter buffer and test shapes have odd widths, so a kernel may
// take 16-byte loads only where every pointer it strides through stays 16-byte aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace llmrt::kernels::cuda {

inline constexpr std::size_t kVectorBytes = 16;  // one 128-bit load or store

// Elements one vector step covers when arrays of these element sizes are read together: 16 bytes
// of the narrowest type (8 bf16/f16, or 4 floats). A wider array of the same step takes several
// 16-byte accesses (8 floats beside 8 bf16 = two float loads, one bf16 load).
constexpr int vector_elems(std::initializer_list<std::size_t> elem_bytes) {
  std::size_t narrowest = kVectorBytes;
  for (std::size_t b : elem_bytes) narrowest = b < narrowest ? b : narrowest;
  return int(kVectorBytes / narrowest);
}

inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % kVectorBytes == 0; }

// Flat arrays of n elements: the vector path needs every non-null pointer 16-byte aligned (a
// step of `vector_elems` elements then advances each pointer by a multiple of 16 bytes); the
// n % step tail is done by the scalar code of the same kernel.
inline bool flat_vectorizable(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs) {
    if (p != nullptr && !aligned16(p)) return false;
  }
  return true;
}

// Row-major (rows, row_stride) arrays read `step` elements at a time within each row: also every
// row must start aligned, so the stride must be a multiple of the step (C = 771 is not). Row
// kernels decide their step on the activations alone and load weights packed only when
// flat_vectorizable({weights}) too: a weight at an odd offset does not slow the activations.
inline bool rows_vectorizable(std::size_t row_stride, int step, std::initializer_list<const void*> ptrs) {
  return step > 0 && row_stride % std::size_t(step) == 0 && flat_vectorizable(ptrs);
}

// How a flat kernel covers n elements: packs [0, packs) of `step` elements each (the vector
// path), then single elements [scalar_from, n). Without the vector path everything is scalar.
// constexpr, so device code calls it too (nvcc's --expt-relaxed-constexpr).
struct FlatSplit {
  std::size_t packs, scalar_from;
};
constexpr FlatSplit flat_split(std::size_t n, int step, bool vec) {
  const std::size_t packs = vec && step > 0 ? n / std::size_t(step) : 0;
  return FlatSplit{packs, packs * std::size_t(step > 0 ? step : 0)};
}

}  // namespace llmrt::kernels::cuda
