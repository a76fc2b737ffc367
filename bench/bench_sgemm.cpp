// The CPU's fp32 matrix-multiply ceiling: OpenBLAS cblas_sgemm on square matrices, best of a
// few runs, in GFLOP/s. The CPU training benchmark reports its GFLOP/s as a share of this.
//   OPENBLAS_NUM_THREADS=2 bench_sgemm [n=2048]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::stoi(argv[1]) : 2048;
  std::vector<float> a(static_cast<std::size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size(), 0.0f);
  double best = 1e30;
  for (int run = 0; run < 6; ++run) {
    const auto start = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (run > 0) best = std::min(best, seconds);  // the first run pays for page faults and thread start-up
  }
  std::printf("{\"n\": %d, \"threads\": %d, \"sgemm_gflops_per_s\": %.1f, \"check\": %.3f}\n", n,
              openblas_get_num_threads(), 2.0 * n * n * n / best / 1e9, c[0] / (0.125f * n));
  return 0;
}
