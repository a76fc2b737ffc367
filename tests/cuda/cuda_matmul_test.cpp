// CUDA matmuls (cached cuBLASLt plans, bias/GELU/dGELU epilogues, fp32 weight gradients) at
// fp32, bf16 and fp16 against the fp32 CPU kernels: odd shapes (the fallback kernel and the
// unfused epilogues may run), GPT-2 124M shapes (which must not fall back), operands at odd
// element offsets of a flat buffer, a non-default stream, the accumulate flag, the fused GELU
// forms against the unfused ones, the plan cache's hits, and the no-fallback error.
#define BOOST_TEST_MODULE cuda_matmul
#define BOOST_TEST_NO_MAIN
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <type_traits>

#include "cpu/kernels_cpu.h"
#include "cuda/cuda_test_util.h"
#include "ref/kernels_ref.h"

namespace cpu = llmrt::kernels::cpu;
namespace ref = llmrt::kernels::ref;
using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::kEps32;
using llmrt::kernels::test::random_floats;
using llmrt::kernels::test::require_nonzero;
using llmrt::kernels::test::rms;

namespace {

using Types = boost::mpl::list<float, cu::bf16, cu::f16>;

// ---- T on the host: conversions, storage epsilon, names ----
template <typename T>
float host_float(T x) {
  if constexpr (std::is_same_v<T, float>) return x;
  else if constexpr (std::is_same_v<T, cu::bf16>) return __bfloat162float(x);
  else return __half2float(x);
}
template <typename T>
T host_from_float(float x) {
  if constexpr (std::is_same_v<T, float>) return x;
  else if constexpr (std::is_same_v<T, cu::bf16>) return __float2bfloat16(x);
  else return __float2half_rn(x);
}
template <typename T>
constexpr double storage_eps() {  // machine epsilon of T's significand
  if constexpr (std::is_same_v<T, float>) return kEps32;
  else if constexpr (std::is_same_v<T, cu::bf16>) return 1.0 / 128;
  else return 1.0 / 1024;
}
template <typename T>
const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "fp32";
  else if constexpr (std::is_same_v<T, cu::bf16>) return "bf16";
  else return "fp16";
}
// cuBLASLt's GELU epilogues may use a hardware tanh (relative error ~2^-11): allowed on top.
constexpr double kGeluApprox = 1.0 / 1024;

// Rounds every value through T, so the CPU reference sees exactly what the GPU sees.
template <typename T>
std::vector<float> round_to(std::vector<float> v) {
  for (float& x : v) x = host_float(host_from_float<T>(x));
  return v;
}

// One tensor in device memory at `offset` elements into its own allocation (an odd offset puts
// it where a flat parameter buffer would: 2-byte aligned at 16 bits).
template <typename T>
class Tensor {
 public:
  explicit Tensor(const std::vector<float>& host, std::size_t offset = 0)
      : buffer_(host.size() + offset), offset_(offset), n_(host.size()) {
    std::vector<T> h(n_);
    for (std::size_t i = 0; i < n_; i++) h[i] = host_from_float<T>(host[i]);
    LLMRT_CUDA_CHECK(cudaMemcpy(get(), h.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
    // A pageable upload may return before its DMA lands, and a non-blocking stream does not
    // wait for the legacy one: finish it here.
    LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
  }
  T* get() const { return buffer_.get() + offset_; }
  // Waits for `stream` only: work queued elsewhere would show as a wrong answer.
  std::vector<float> read(cudaStream_t stream) const {
    LLMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<T> h(n_);
    LLMRT_CUDA_CHECK(cudaMemcpy(h.data(), get(), n_ * sizeof(T), cudaMemcpyDeviceToHost));
    std::vector<float> out(n_);
    for (std::size_t i = 0; i < n_; i++) out[i] = host_float(h[i]);
    return out;
  }

 private:
  DeviceBuffer<T> buffer_;
  std::size_t offset_, n_;
};

// |got - want| <= (factor * eps_T + extra + 4 * eps32 * reduction_len) * (|want| + rms(want)):
// T's rounding of each stored result (factor counts the roundings), `extra` for approximations,
// fp32 accumulation over reduction_len terms; rms(want) stands in where a result cancels.
template <typename T>
void check_close_t(const std::vector<float>& got, const std::vector<float>& want, double reduction_len,
                   const std::string& what, double factor = 2.0, double extra = 0.0) {
  BOOST_TEST_REQUIRE(got.size() == want.size(), what << ": size mismatch");
  require_nonzero(want, what + " (CPU reference)");
  require_nonzero(got, what + " (CUDA)");
  const double scale = rms(want), tol = factor * storage_eps<T>() + extra + 4 * kEps32 * reduction_len;
  int reported = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); i++) {
    const double err = std::fabs(double(got[i]) - want[i]), bound = std::fabs(want[i]) + scale;
    worst = std::max(worst, err / bound);
    if (!(err <= tol * bound) && reported++ < 5) {  // written so NaN fails
      BOOST_ERROR(what << "[" << i << "]: got " << got[i] << ", want " << want[i] << ", |err| " << err << " > "
                       << tol * bound);
    }
  }
  BOOST_TEST_MESSAGE(what << ": worst relative error " << worst << " (allowed " << tol << ")");
}

// ---- the fp32 CPU twins, on T-rounded inputs: kernels/ref for small shapes, kernels/cpu
// (OpenBLAS, held to ref by tests/kernels) where ref's loops would take minutes ----
struct Shape {
  int N, C, OC;
};
bool large(const Shape& s) { return double(s.N) * s.C * s.OC > double(1 << 22); }
void cpu_forward(float* out, const float* inp, const float* w, const float* b, const Shape& s) {
  (large(s) ? cpu::matmul_forward : ref::matmul_forward)(out, inp, w, b, s.N, s.C, s.OC);
}
void cpu_backward_input(float* dinp, const float* dout, const float* w, const Shape& s) {
  (large(s) ? cpu::matmul_backward_input : ref::matmul_backward_input)(dinp, dout, w, s.N, s.C, s.OC);
}
void cpu_backward_weight(float* dw, float* db, const float* dout, const float* inp, const Shape& s) {
  (large(s) ? cpu::matmul_backward_weight : ref::matmul_backward_weight)(dw, db, dout, inp, s.N, s.C, s.OC);
}

// The inputs of one linear layer, rounded to T, on the host and on the device (at `offset`).
template <typename T>
struct Linear {
  Shape s;
  std::vector<float> inp, weight, bias, dout;  // (N, C), (OC, C), (OC), (N, OC)
  Tensor<T> inp_d, weight_d, bias_d, dout_d;
  Linear(const Shape& shape, unsigned seed, std::size_t offset)
      : s(shape), inp(make(std::size_t(s.N) * s.C, seed)), weight(make(std::size_t(s.OC) * s.C, seed + 1)),
        bias(make(s.OC, seed + 2)), dout(make(std::size_t(s.N) * s.OC, seed + 3)), inp_d(inp, offset),
        weight_d(weight, offset), bias_d(bias, offset), dout_d(dout, offset) {}
  std::string tag(const char* what) const {
    std::ostringstream os;
    os << type_name<T>() << " (" << s.N << "," << s.C << "," << s.OC << ") " << what;
    return os.str();
  }
  static std::vector<float> make(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    return round_to<T>(random_floats(n, rng));
  }
};

std::vector<float> nans(std::size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }

template <typename T>
void check_forward(const Linear<T>& L, cu::GemmContext& gemm, cudaStream_t stream, std::size_t offset) {
  const Shape& s = L.s;
  std::vector<float> want(std::size_t(s.N) * s.OC);
  for (const bool with_bias : {true, false}) {
    Tensor<T> out(nans(want.size()), offset);  // WRITTEN: NaN must not survive
    cpu_forward(want.data(), L.inp.data(), L.weight.data(), with_bias ? L.bias.data() : nullptr, s);
    cu::matmul_forward(out.get(), L.inp_d.get(), L.weight_d.get(), with_bias ? L.bias_d.get() : nullptr, s.N, s.C,
                       s.OC, gemm, stream);
    check_close_t<T>(out.read(stream), want, s.C, L.tag(with_bias ? "out (bias)" : "out"), 3.0);
  }
}

// pre = inp @ weight^T + bias; out = gelu(pre).
template <typename T>
void check_forward_gelu(const Linear<T>& L, cu::GemmContext& gemm, cudaStream_t stream, std::size_t offset) {
  const Shape& s = L.s;
  const std::size_t n = std::size_t(s.N) * s.OC;
  std::vector<float> pre(n), out(n);
  cpu_forward(pre.data(), L.inp.data(), L.weight.data(), L.bias.data(), s);
  ref::gelu_forward(out.data(), pre.data(), n);
  Tensor<T> out_d(nans(n), offset), pre_d(nans(n), offset);
  cu::matmul_forward_gelu(out_d.get(), pre_d.get(), L.inp_d.get(), L.weight_d.get(), L.bias_d.get(), s.N, s.C, s.OC,
                          gemm, stream);
  check_close_t<T>(pre_d.read(stream), pre, s.C, L.tag("gelu pre"), 3.0);
  check_close_t<T>(out_d.read(stream), out, s.C, L.tag("gelu out"), 4.0, kGeluApprox);
}

// dinp += (accumulate) or = dout @ weight.
template <typename T>
void check_backward_input(const Linear<T>& L, cu::GemmContext& gemm, cudaStream_t stream, std::size_t offset) {
  const Shape& s = L.s;
  for (const bool accumulate : {true, false}) {
    std::mt19937 rng(7);
    auto want = round_to<T>(random_floats(std::size_t(s.N) * s.C, rng, -0.05f, 0.05f));  // small: the sum shows
    Tensor<T> dinp(accumulate ? want : nans(want.size()), offset);
    if (!accumulate) std::fill(want.begin(), want.end(), 0.0f);
    cpu_backward_input(want.data(), L.dout.data(), L.weight.data(), s);
    cu::matmul_backward_input(dinp.get(), L.dout_d.get(), L.weight_d.get(), s.N, s.C, s.OC, gemm, stream, accumulate);
    check_close_t<T>(dinp.read(stream), want, s.OC, L.tag(accumulate ? "dinp +=" : "dinp ="), 3.0);
  }
}

// dpre = (dout @ weight) * gelu'(pre), with pre (N, C) the saved pre-activation.
template <typename T>
void check_backward_input_gelu(const Linear<T>& L, cu::GemmContext& gemm, cudaStream_t stream, std::size_t offset) {
  const Shape& s = L.s;
  const std::size_t n = std::size_t(s.N) * s.C;
  std::mt19937 rng(8);
  const auto pre = round_to<T>(random_floats(n, rng, -3.0f, 3.0f));
  std::vector<float> product(n, 0.0f), want(n, 0.0f);
  cpu_backward_input(product.data(), L.dout.data(), L.weight.data(), s);
  ref::gelu_backward(want.data(), pre.data(), product.data(), n);
  Tensor<T> pre_d(pre, offset), dpre(nans(n), offset);
  cu::matmul_backward_input_gelu(dpre.get(), L.dout_d.get(), L.weight_d.get(), pre_d.get(), s.N, s.C, s.OC, gemm,
                                 stream);
  check_close_t<T>(dpre.read(stream), want, s.OC, L.tag("dpre (dgelu)"), 4.0, kGeluApprox);
}

// dweight, dbias fp32 += onto non-zero values, alone and through matmul_backward.
template <typename T>
void check_backward_weight(const Linear<T>& L, cu::GemmContext& gemm, cudaStream_t stream, std::size_t offset) {
  const Shape& s = L.s;
  std::mt19937 rng(9);
  for (const bool with_bias : {true, false}) {
    auto dw = random_floats(std::size_t(s.OC) * s.C, rng), db = random_floats(s.OC, rng);
    Tensor<float> dw_d(dw, offset), db_d(db, offset);
    cpu_backward_weight(dw.data(), with_bias ? db.data() : nullptr, L.dout.data(), L.inp.data(), s);
    cu::matmul_backward_weight(dw_d.get(), with_bias ? db_d.get() : nullptr, L.dout_d.get(), L.inp_d.get(), s.N, s.C,
                               s.OC, gemm, stream);
    // fp32 outputs: T's epsilon does not apply; the inputs were rounded for both sides.
    check_close_t<float>(dw_d.read(stream), dw, s.N, L.tag(with_bias ? "dweight (with dbias)" : "dweight"));
    check_close_t<float>(db_d.read(stream), db, s.N, L.tag(with_bias ? "dbias" : "dbias untouched"));
  }
  auto dinp = round_to<T>(random_floats(std::size_t(s.N) * s.C, rng, -0.05f, 0.05f));
  auto dw = random_floats(std::size_t(s.OC) * s.C, rng), db = random_floats(s.OC, rng);
  Tensor<T> dinp_d(dinp, offset);
  Tensor<float> dw_d(dw, offset), db_d(db, offset);
  cpu_backward_input(dinp.data(), L.dout.data(), L.weight.data(), s);
  cpu_backward_weight(dw.data(), db.data(), L.dout.data(), L.inp.data(), s);
  cu::matmul_backward(dinp_d.get(), dw_d.get(), db_d.get(), L.dout_d.get(), L.inp_d.get(), L.weight_d.get(), s.N, s.C,
                      s.OC, gemm, stream);
  check_close_t<T>(dinp_d.read(stream), dinp, s.OC, L.tag("matmul_backward dinp"), 3.0);
  check_close_t<float>(dw_d.read(stream), dw, s.N, L.tag("matmul_backward dweight"));
  check_close_t<float>(db_d.read(stream), db, s.N, L.tag("matmul_backward dbias"));
}

template <typename T>
void check_all(const Shape& s, cu::GemmContext& gemm, cudaStream_t stream, unsigned seed, std::size_t offset = 0) {
  const Linear<T> L(s, seed, offset);
  check_forward(L, gemm, stream, offset);
  check_forward_gelu(L, gemm, stream, offset);
  check_backward_input(L, gemm, stream, offset);
  check_backward_input_gelu(L, gemm, stream, offset);
  check_backward_weight(L, gemm, stream, offset);
}

void report(const cu::GemmContext& gemm, const std::string& what) {
  BOOST_TEST_MESSAGE(what << ": plans " << gemm.plan_count() << ", hits " << gemm.plan_hits() << ", fallback GEMMs "
                          << gemm.fallback_calls() << ", unfused epilogues " << gemm.epilogue_fallbacks());
}

}  // namespace

// Odd shapes: the fallback kernel and the unfused epilogues may run; answers must not change.
// The first runs on the legacy default stream, the rest on a non-blocking one.
BOOST_AUTO_TEST_CASE_TEMPLATE(odd_shapes_match_cpu, T, Types) {
  cu::GemmContext gemm;
  cu::CudaStream stream;
  check_all<T>({21, 35, 53}, gemm, nullptr, 20);
  check_all<T>({1, 7, 3}, gemm, stream.get(), 21);
  check_all<T>({19, 111, 989}, gemm, stream.get(), 22);
  BOOST_TEST(gemm.epilogue_fallbacks() > 0u);  // OC 53, 3 and C 35, 7, 111 are no multiples of 8
  report(gemm, std::string(type_name<T>()) + " odd shapes");
}

// GPT-2 124M: T = 1024 rows (B = 1: modest for the CPU reference), C = 768; the attention qkv,
// projection and MLP linears, and the head over the padded vocabulary (fewer rows). None may
// take the fallback kernel; at 16 bits the GELU epilogues must fuse.
BOOST_AUTO_TEST_CASE_TEMPLATE(gpt2_shapes_run_on_cublaslt, T, Types) {
  cu::GemmContext gemm;
  gemm.set_fallback_allowed(false);  // a miss throws with the shape
  cu::CudaStream stream;
  check_all<T>({1024, 768, 2304}, gemm, stream.get(), 30);
  check_all<T>({1024, 768, 3072}, gemm, stream.get(), 31);
  check_all<T>({1024, 3072, 768}, gemm, stream.get(), 32);
  check_all<T>({1024, 768, 768}, gemm, stream.get(), 33);
  const Linear<T> head({128, 768, 50304}, 34, 0);
  check_forward(head, gemm, stream.get(), 0);
  check_backward_input(head, gemm, stream.get(), 0);
  check_backward_weight(head, gemm, stream.get(), 0);
  BOOST_TEST(gemm.fallback_calls() == 0u);
  if (!std::is_same_v<T, float>) BOOST_TEST(gemm.epilogue_fallbacks() == 0u);
  BOOST_TEST(gemm.plan_hits() > 0u);  // matmul_backward reuses the plans of its two passes
  report(gemm, std::string(type_name<T>()) + " GPT-2 shapes");
}

// Every operand at an odd element offset of its buffer, as in a flat parameter buffer: the
// plans must ask for the real alignment; the GELU aux is then refused by the rules (unfused).
BOOST_AUTO_TEST_CASE_TEMPLATE(unaligned_offsets_match_cpu, T, Types) {
  cu::GemmContext gemm;
  cu::CudaStream stream;
  for (const std::size_t offset : {1, 3}) check_all<T>({64, 768, 2304}, gemm, stream.get(), 40 + offset, offset);
  BOOST_TEST(gemm.epilogue_fallbacks() > 0u);
  report(gemm, std::string(type_name<T>()) + " odd offsets");
}

// The fused GELU forms (one cuBLASLt call) against the unfused ones (GEMM, then the GELU
// kernel) on the same inputs, both on the GPU.
BOOST_AUTO_TEST_CASE_TEMPLATE(fused_gelu_matches_unfused, T, Types) {
  cu::GemmContext fused, unfused;
  unfused.set_epilogue_fusion(false);
  cu::CudaStream stream;
  const Shape s{256, 768, 3072};
  const Linear<T> L(s, 50, 0);
  const std::size_t n = std::size_t(s.N) * s.OC;
  Tensor<T> out_f(nans(n)), pre_f(nans(n)), out_u(nans(n)), pre_u(nans(n));
  cu::matmul_forward_gelu(out_f.get(), pre_f.get(), L.inp_d.get(), L.weight_d.get(), L.bias_d.get(), s.N, s.C, s.OC,
                          fused, stream.get());
  cu::matmul_forward_gelu(out_u.get(), pre_u.get(), L.inp_d.get(), L.weight_d.get(), L.bias_d.get(), s.N, s.C, s.OC,
                          unfused, stream.get());
  const auto pre_unfused = pre_u.read(stream.get());
  check_close_t<T>(pre_f.read(stream.get()), pre_unfused, s.C, L.tag("fused vs unfused pre"), 3.0);
  check_close_t<T>(out_f.read(stream.get()), out_u.read(stream.get()), s.C, L.tag("fused vs unfused out"), 4.0,
                   kGeluApprox);
  // Backward of the next linear (C' = 3072 in, OC' = 768 out) through the saved pre-activation.
  const Shape back{s.N, s.OC, 768};
  const Linear<T> B(back, 51, 0);
  const std::size_t nb = std::size_t(back.N) * back.C;
  Tensor<T> dpre_f(nans(nb)), dpre_u(nans(nb));
  cu::matmul_backward_input_gelu(dpre_f.get(), B.dout_d.get(), B.weight_d.get(), pre_u.get(), back.N, back.C, back.OC,
                                 fused, stream.get());
  cu::matmul_backward_input_gelu(dpre_u.get(), B.dout_d.get(), B.weight_d.get(), pre_u.get(), back.N, back.C, back.OC,
                                 unfused, stream.get());
  check_close_t<T>(dpre_f.read(stream.get()), dpre_u.read(stream.get()), back.OC, B.tag("fused vs unfused dpre"), 4.0,
                   kGeluApprox);
  BOOST_TEST(unfused.epilogue_fallbacks() == 3u);  // the GELU, its matmul's bias, the dGELU
  report(fused, std::string(type_name<T>()) + " fused");
  if (!std::is_same_v<T, float>) BOOST_TEST(fused.epilogue_fallbacks() == 0u);
}

// The second call of one key finds its plan; another pointer of the same alignment too; a weight
// at an odd offset is another key.
BOOST_AUTO_TEST_CASE_TEMPLATE(plan_cache_hits_on_the_second_call, T, Types) {
  cu::GemmContext gemm;
  cu::CudaStream stream;
  const Shape s{64, 128, 192};
  const Linear<T> L(s, 60, 0), odd(s, 60, 1);
  const std::size_t n = std::size_t(s.N) * s.OC;
  Tensor<T> out1(nans(n)), out2(nans(n));
  std::vector<float> want(n);
  cpu_forward(want.data(), L.inp.data(), L.weight.data(), L.bias.data(), s);
  cu::matmul_forward(out1.get(), L.inp_d.get(), L.weight_d.get(), L.bias_d.get(), s.N, s.C, s.OC, gemm, stream.get());
  BOOST_TEST(gemm.plan_misses() == 1u);
  BOOST_TEST(gemm.plan_hits() == 0u);
  cu::matmul_forward(out1.get(), L.inp_d.get(), L.weight_d.get(), L.bias_d.get(), s.N, s.C, s.OC, gemm, stream.get());
  cu::matmul_forward(out2.get(), L.inp_d.get(), L.weight_d.get(), L.bias_d.get(), s.N, s.C, s.OC, gemm, stream.get());
  BOOST_TEST(gemm.plan_misses() == 1u);
  BOOST_TEST(gemm.plan_hits() == 2u);
  BOOST_TEST(gemm.plan_count() == 1u);
  check_close_t<T>(out1.read(stream.get()), want, s.C, L.tag("out, second call"), 3.0);
  check_close_t<T>(out2.read(stream.get()), want, s.C, L.tag("out, other buffer"), 3.0);
  cu::matmul_forward(out2.get(), L.inp_d.get(), odd.weight_d.get(), L.bias_d.get(), s.N, s.C, s.OC, gemm,
                     stream.get());
  BOOST_TEST(gemm.plan_misses() == 2u);
  check_close_t<T>(out2.read(stream.get()), want, s.C, L.tag("out, weight at offset 1"), 3.0);
}

// With the fallback disallowed, a GEMM cuBLASLt refuses throws a CudaError naming its shape.
// Which shapes cuBLASLt refuses is its own business: the test finds one among odd shapes.
BOOST_AUTO_TEST_CASE(no_fallback_names_the_shape) {
  cu::CudaStream stream;
  for (const Shape s : {Shape{1, 7, 3}, Shape{21, 35, 53}, Shape{3, 5, 1}}) {
    const Linear<cu::bf16> L(s, 70, 1);
    Tensor<cu::bf16> out(nans(std::size_t(s.N) * s.OC), 1);
    cu::GemmContext allowed;
    cu::matmul_forward<cu::bf16>(out.get(), L.inp_d.get(), L.weight_d.get(), nullptr, s.N, s.C, s.OC, allowed, stream.get());
    if (allowed.fallback_calls() == 0) continue;
    cu::GemmContext strict;
    strict.set_fallback_allowed(false);
    const std::string shape = "m=" + std::to_string(s.OC) + " n=" + std::to_string(s.N) + " k=" + std::to_string(s.C);
    try {
      cu::matmul_forward<cu::bf16>(out.get(), L.inp_d.get(), L.weight_d.get(), nullptr, s.N, s.C, s.OC, strict, stream.get());
      BOOST_ERROR("no CudaError for a GEMM cuBLASLt refused");
    } catch (const cu::CudaError& e) {
      BOOST_TEST_MESSAGE(e.what());
      BOOST_TEST(std::string(e.what()).find(shape) != std::string::npos, e.what());
    }
    BOOST_TEST(strict.fallback_calls() == 0u);
    return;
  }
  BOOST_TEST_MESSAGE("cuBLASLt took every odd shape tried: the no-fallback error was not exercised");
}

LLMRT_CUDA_TEST_MAIN()
