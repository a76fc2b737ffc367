// The CUDA matmuls' host-side rules (gemm_rules.h): plain C++, unit-tested without a GPU.
#include "cuda/gemm_rules.h"

#include <algorithm>
#include <sstream>

namespace llmrt::kernels::cuda {

std::size_t dtype_bytes(GemmDtype t) { return t == GemmDtype::kF32 ? 4 : 2; }

const char* dtype_name(GemmDtype t) {
  switch (t) {
    case GemmDtype::kF32: return "fp32";
    case GemmDtype::kBf16: return "bf16";
    case GemmDtype::kF16: return "fp16";
  }
  return "?";
}

const char* epilogue_name(GemmEpilogue e) {
  switch (e) {
    case GemmEpilogue::kNone: return "none";
    case GemmEpilogue::kBias: return "bias";
    case GemmEpilogue::kGeluAuxBias: return "gelu_aux_bias";
    case GemmEpilogue::kDGelu: return "dgelu";
  }
  return "?";
}

int alignment_of(std::uintptr_t address) {
  if (address == 0) return 0;
  int align = 256;
  while (align > 1 && address % std::uintptr_t(align) != 0) align >>= 1;
  return align;
}

bool epilogue_has_bias(GemmEpilogue e) { return e == GemmEpilogue::kBias || e == GemmEpilogue::kGeluAuxBias; }
bool epilogue_has_aux(GemmEpilogue e) { return e == GemmEpilogue::kGeluAuxBias || e == GemmEpilogue::kDGelu; }

GemmKey make_gemm_key(const GemmShape& shape, GemmDtype ab_type, GemmDtype d_type, GemmEpilogue epilogue,
                      bool accumulate, int aux_ld, const GemmOperands& ops) {
  GemmKey key;
  key.shape = shape;
  key.ab_type = ab_type;
  key.d_type = d_type;
  key.epilogue = epilogue;
  key.accumulate = accumulate;
  key.aux_ld = epilogue_has_aux(epilogue) ? aux_ld : 0;
  key.align_a = alignment_of(ops.a);
  key.align_b = alignment_of(ops.b);
  key.align_d = alignment_of(ops.d);
  key.align_bias = epilogue_has_bias(epilogue) ? alignment_of(ops.bias) : 0;
  key.align_aux = epilogue_has_aux(epilogue) ? alignment_of(ops.aux) : 0;
  return key;
}

std::string describe(const GemmKey& key) {
  const GemmShape& g = key.shape;
  std::ostringstream os;
  os << "GEMM m=" << g.m << " n=" << g.n << " k=" << g.k << " A(" << (g.trans_a ? 'T' : 'N') << ", lda " << g.lda
     << ") B(" << (g.trans_b ? 'T' : 'N') << ", ldb " << g.ldb << ") D(ldd " << g.ldd << ") "
     << dtype_name(key.ab_type) << " -> " << dtype_name(key.d_type) << ", epilogue " << epilogue_name(key.epilogue);
  if (key.aux_ld != 0) os << " (aux ld " << key.aux_ld << ")";
  os << ", beta " << (key.accumulate ? 1 : 0) << ", alignments A " << key.align_a << " B " << key.align_b << " D "
     << key.align_d;
  if (key.align_bias != 0) os << " bias " << key.align_bias;
  if (key.align_aux != 0) os << " aux " << key.align_aux;
  os << " bytes";
  return os.str();
}

EpilogueCheck check_fused_epilogue(GemmEpilogue epilogue, int rows_d, int aux_ld, std::uintptr_t aux_address) {
  if (epilogue != GemmEpilogue::kGeluAuxBias && epilogue != GemmEpilogue::kDGelu) return {};
  if (aux_address == 0) return {false, "no GELU aux matrix"};
  if (aux_ld % 8 != 0) return {false, "GELU aux leading dimension not a multiple of 8"};
  if (aux_ld < rows_d) return {false, "GELU aux leading dimension below the output's row count"};
  if (alignment_of(aux_address) < 16) return {false, "GELU aux matrix not 16-byte aligned"};
  return {};
}

MatmulOutcome classify_matmul_status(GemmEpilogue epilogue, int cublas_status) {
  if (cublas_status == kCublasStatusSuccess) return MatmulOutcome::kRan;
  const bool configuration_refused =
      cublas_status == kCublasStatusNotSupported || cublas_status == kCublasStatusInvalidValue;
  return epilogue != GemmEpilogue::kNone && configuration_refused ? MatmulOutcome::kEpilogueRefused
                                                                 : MatmulOutcome::kFailed;
}

int bias_grad_vector_width(std::size_t elem_bytes, int OC, std::uintptr_t dout_address) {
  const int width = int(16 / elem_bytes);
  return OC % width == 0 && dout_address % 16 == 0 ? width : 1;
}

BiasGradGrid bias_grad_grid(int N, int OC, int sm_count, int vector_width) {
  BiasGradGrid grid;
  grid.vector_width = std::max(1, vector_width);
  const int columns_per_block = kBiasGradThreadsX * grid.vector_width;
  grid.column_blocks = std::max(1, (OC + columns_per_block - 1) / columns_per_block);
  const int want_blocks = 4 * std::max(1, sm_count);
  const int by_fill = std::max(1, want_blocks / grid.column_blocks);
  const int by_rows = std::max(1, N / kMinRowsPerSplit);
  grid.row_splits = std::min(by_fill, by_rows);
  grid.rows_per_split = std::max(1, (N + grid.row_splits - 1) / grid.row_splits);
  // Rounding up may leave trailing splits with no rows: drop them.
  grid.row_splits = std::max(1, (N + grid.rows_per_split - 1) / grid.rows_per_split);
  return grid;
}

}  // namespace llmrt::kernels::cuda
