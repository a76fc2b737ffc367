// Matmul forward/backward through OpenBLAS sgemm (row-major), bias terms by vectorised loops.
#include "cpu/kernels_cpu.h"
#include "cpu/threads_cpu.h"

#include <cblas.h>

#include <vector>

namespace llmrt::kernels::cpu {
using detail::team_size;

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N,
                    int C, int OC) {
  // Seed out with the bias and let sgemm add into it (beta = 1): one pass over out, not two.
  if (bias) {
#pragma omp parallel for num_threads(team_size()) if (std::size_t(N) * OC > detail::kMinParallelElems)
    for (int i = 0; i < N; i++) {
      float* __restrict row = out + std::size_t(i) * OC;
      for (int o = 0; o < OC; o++) row[o] = bias[o];
    }
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C,
              bias ? 1.0f : 0.0f, out, OC);
}

void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                           int OC) {
  // dinp (N, C) += dout (N, OC) @ weight (OC, C)
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
              1.0f, dinp, C);
}

namespace {
// dbias (OC) += column sums of dout (N, OC). Each thread owns a slice of columns and walks the
// rows, so the inner loop is contiguous and there is no reduction across threads.
void bias_grad(float* __restrict dbias, const float* __restrict dout, int N, int OC) {
  const int nth = OC >= 256 ? team_size() : 1;
#pragma omp parallel num_threads(nth)
  {
    const detail::Range r =
        detail::split_range(std::size_t(OC), omp_get_thread_num(), omp_get_num_threads());
    std::vector<float> acc(r.end - r.begin, 0.0f);
    for (int i = 0; i < N; i++) {
      const float* __restrict row = dout + std::size_t(i) * OC + r.begin;
      float* __restrict a = acc.data();
      for (std::size_t o = 0; o < acc.size(); o++) a[o] += row[o];
    }
    for (std::size_t o = 0; o < acc.size(); o++) dbias[r.begin + o] += acc[o];
  }
}
}  // namespace

void matmul_backward_weight(float* dweight, float* dbias, const float* dout, const float* inp,
                            int N, int C, int OC) {
  // dweight (OC, C) += dout^T (OC, N) @ inp (N, C)
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
              dweight, C);
  if (dbias) bias_grad(dbias, dout, N, OC);
}

void gemm_strided_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                          long long stride_a, const float* B, int ldb, long long stride_b, float beta, float* C,
                          int ldc, long long stride_c, int batch) {
  for (int i = 0; i < batch; i++) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta, C + i * stride_c, ldc);
  }
}

void sum_rows(float* dbias, const float* dout, int N, int C) { bias_grad(dbias, dout, N, C); }

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC) {
  matmul_backward_input(dinp, dout, weight, N, C, OC);
  matmul_backward_weight(dweight, dbias, dout, inp, N, C, OC);
}

}  // namespace llmrt::kernels::cpu
