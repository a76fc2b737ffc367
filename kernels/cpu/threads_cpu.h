// Internal to kernels/cpu: the team size every OpenMP region uses, a static row split, and a
// guard for regions whose threads call BLAS.
#pragma once

#include <cblas.h>
#include <omp.h>

#include <cstddef>

namespace llmrt::kernels::cpu::detail {

// Read once per kernel and passed to num_threads(), so a setting made on one thread holds for
// kernels called from any thread (omp_set_num_threads alone is per calling thread).
int team_size();

// [begin, end) of n items for worker `tid` of `nth`, contiguous so each worker streams memory.
struct Range {
  std::size_t begin, end;
};
inline Range split_range(std::size_t n, int tid, int nth) {
  const std::size_t chunk = n / nth, extra = n % nth;
  const std::size_t t = std::size_t(tid);
  const std::size_t begin = t * chunk + (t < extra ? t : extra);
  return {begin, begin + chunk + (t < extra ? 1 : 0)};
}

// Below this many elements an element-wise kernel runs on one thread: waking a team costs more.
constexpr std::size_t kMinParallelElems = 1 << 15;

// While alive (and `active`), OpenBLAS runs single-threaded, so threads of an OpenMP region can
// each call sgemm without the two pools oversubscribing the cores; the old count comes back
// after. OpenBLAS's count is process-wide: kernels of one rank run one at a time.
class SerialBlas {
 public:
  explicit SerialBlas(bool active) : saved_(active ? openblas_get_num_threads() : 1) {
    if (saved_ > 1) openblas_set_num_threads(1);
  }
  ~SerialBlas() {
    if (saved_ > 1) openblas_set_num_threads(saved_);
  }
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;

 private:
  int saved_;
};

}  // namespace llmrt::kernels::cpu::detail
