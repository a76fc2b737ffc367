// CUDA causal attention, fp32 / bf16 / f16 storage, against the CPU kernels (kernels/cpu, themselves
// checked against the fp64 reference by tests/kernels; fast enough for T = 1024 at 48 heads) and,
// for the tensor-core path, against the CPU emulation of its own kernels
// (tests/kernels/attention_mma_emulation.h: same tiles, same roundings), which pins every
// element far tighter than the reference can. Shapes: head sizes 48/64/80/96/128 at
// T in {1, 17, 64, 1024} with B * NH > 1, an odd head size (7: the CUDA-core path at every
// dtype), GPT-2 124M (B = 4, T = 1024, C = 768, NH = 12), qkv at an unaligned element offset
// (the CUDA-core fallback), a non-default stream. dqkv starts as NaN: the backward must WRITE
// every element.
#define BOOST_TEST_MODULE cuda_attention
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <type_traits>

#include "cuda/cuda_test_util.h"
#include "kernels/attention_mma_emulation.h"
#include "cpu/kernels_cpu.h"

namespace cpu = llmrt::kernels::cpu;
namespace emu = llmrt::kernels::mma_emulation;
using namespace llmrt::kernels::cuda_test;
using cu::f16;
using llmrt::kernels::test::random_floats;

namespace {

template <typename T>
constexpr emu::Storage kStorage = std::is_same_v<T, float>  ? emu::Storage::kFp32
                                  : std::is_same_v<T, bf16> ? emu::Storage::kBf16
                                                            : emu::Storage::kF16;
template <typename T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "fp32" : std::is_same_v<T, bf16> ? "bf16" : "f16";
}
// Unit roundoff of T (fp32: its own, for the stored result).
template <typename T>
constexpr double kRoundoff = std::is_same_v<T, float> ? 0.5 * llmrt::kernels::test::kEps32
                             : std::is_same_v<T, bf16> ? 1.0 / 256
                                                       : 1.0 / 2048;

template <typename T>
T to_storage(float x) {
  if constexpr (std::is_same_v<T, float>) return x;
  else if constexpr (std::is_same_v<T, bf16>) return __float2bfloat16(x);
  else return __float2half_rn(x);
}
template <typename T>
float from_storage(T x) {
  if constexpr (std::is_same_v<T, float>) return x;
  else if constexpr (std::is_same_v<T, bf16>) return __bfloat162float(x);
  else return __half2float(x);
}

// A device copy of v (already representable in T) at element `offset` of a larger buffer.
template <typename T>
struct OnDevice {
  OnDevice(const std::vector<float>& v, std::size_t offset) : buf(v.size() + offset), off(offset) {
    std::vector<T> h(v.size());
    for (std::size_t i = 0; i < v.size(); i++) h[i] = to_storage<T>(v[i]);
    LLMRT_CUDA_CHECK(cudaMemcpy(get(), h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  T* get() const { return buf.get() + off; }
  std::vector<float> host() const {
    LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<T> h(buf.size() - off);
    LLMRT_CUDA_CHECK(cudaMemcpy(h.data(), get(), h.size() * sizeof(T), cudaMemcpyDeviceToHost));
    std::vector<float> out(h.size());
    for (std::size_t i = 0; i < h.size(); i++) out[i] = from_storage(h[i]);
    return out;
  }
  DeviceBuffer<T> buf;
  std::size_t off;
};

// |got - want| <= (roundings * u_T + 8 * eps32 * len) * (|want| + rms(want)); NaN fails.
void check(const std::vector<float>& got, const std::vector<float>& want, double roundings, double roundoff,
           int len, const std::string& what) {
  using llmrt::kernels::test::rms;
  BOOST_TEST_REQUIRE(got.size() == want.size(), what << ": size mismatch");
  llmrt::kernels::test::require_nonzero(want, what + " (CPU)");
  const double scale = rms(want), tol = roundings * roundoff + 8 * llmrt::kernels::test::kEps32 * len;
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

struct Case {
  emu::Shape shape;
  unsigned seed;
  bool emulate = false;        // also compare with the CPU emulation of the tensor-core kernels
  std::size_t qkv_offset = 0;  // elements: 1 puts qkv off 16-byte alignment (CUDA-core fallback)
  cudaStream_t stream = nullptr;
};

// Forward, then backward from the reference's forward (out rounded to T, as stored), so each
// pass is checked on its own. Tolerances (in units of T's roundoff u_T): out 3 (inputs exact
// in T; P rounded as an mma operand; out rounded), lse 1 (fp32), dqkv 16 against the CPU (P and
// dS rounded as mma operands, errors summed over up to T terms: tests/kernels measured 6.4 u at
// T = 1024 with D from an fp32 out, as the CPU kernel and the GPU both take D = dout . out), 4
// against the emulation (the same roundings; only fp32 summation order and exp2f's last bit
// differ, which can flip a rounding).
template <typename T>
void check_attention(const Case& c) {
  const auto [B, Tn, C, NH] = c.shape;
  const emu::Storage st = kStorage<T>;
  const double u = kRoundoff<T>;
  const int len = Tn + C / NH;
  std::ostringstream name;
  name << dtype_name<T>() << " (B" << B << " T" << Tn << " hs" << C / NH << " NH" << NH << " +" << c.qkv_offset
       << ") ";
  const std::string tag = name.str();
  std::mt19937 rng(c.seed);
  const auto qkv = emu::round_all(st, random_floats(std::size_t(B) * Tn * 3 * C, rng, -2.0f, 2.0f));
  std::vector<float> out(std::size_t(B) * Tn * C), lse(std::size_t(B) * NH * Tn);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, Tn, C, NH);

  OnDevice<T> qkv_d(qkv, c.qkv_offset), out_d(out, 0);
  DeviceBuffer<float> lse_d(lse.size());
  cu::attention_forward(out_d.get(), lse_d.get(), qkv_d.get(), B, Tn, C, NH, c.stream);
  LLMRT_CUDA_CHECK(cudaStreamSynchronize(c.stream));
  const auto got_out = out_d.host(), got_lse = to_host(lse_d);
  check(got_out, out, 3, u, len, tag + "out vs CPU");
  check(got_lse, lse, 1, u, len, tag + "lse vs CPU");

  const auto out_s = emu::round_all(st, out), dout = emu::round_all(st, random_floats(out.size(), rng));
  std::vector<float> dqkv(qkv.size(), 0.0f);
  cpu::attention_backward(dqkv.data(), dout.data(), qkv.data(), out_s.data(), lse.data(), B, Tn, C, NH);
  OnDevice<T> out_s_d(out_s, 0), dout_d(dout, 0), dqkv_d(dqkv, 0);
  LLMRT_CUDA_CHECK(cudaMemset(dqkv_d.get(), 0xff, dqkv.size() * sizeof(T)));  // NaN in every dtype
  lse_d.upload(lse.data(), lse.size());
  DeviceBuffer<unsigned char> scratch(cu::attention_backward_scratch_bytes(B, Tn, C, NH));
  cu::attention_backward(dqkv_d.get(), dout_d.get(), qkv_d.get(), out_s_d.get(), lse_d.get(), scratch.get(), B, Tn,
                         C, NH, c.stream);
  LLMRT_CUDA_CHECK(cudaStreamSynchronize(c.stream));
  const auto got_dqkv = dqkv_d.host();
  check(got_dqkv, dqkv, std::is_same_v<T, float> ? 4 : 16, u, len, tag + "dqkv vs CPU");

  if (c.emulate) {
    std::vector<float> e_out(out.size()), e_lse(lse.size()), e_dqkv(qkv.size());
    emu::forward(e_out, e_lse, qkv, c.shape, st);
    emu::backward(e_dqkv, dout, qkv, out_s, lse, c.shape, st);
    check(got_out, e_out, 2, u, len, tag + "out vs emulation");
    check(got_lse, e_lse, 1, u, len, tag + "lse vs emulation");
    check(got_dqkv, e_dqkv, 4, u, len, tag + "dqkv vs emulation");
  }
}

// Every dtype; the emulation where the tensor cores take the call (16-bit, hs % 8 == 0, aligned).
void check_all_dtypes(Case c) {
  Case c32 = c;
  c32.emulate = false;  // fp32 runs on CUDA cores: a different algorithm from the emulated one
  check_attention<float>(c32);
  const bool mma = (c.shape.C / c.shape.NH) % 8 == 0 && c.qkv_offset % 8 == 0;
  Case c16 = c;
  c16.emulate = c.emulate && mma;
  check_attention<bf16>(c16);
  check_attention<f16>(c16);
}

// Times the kernels at a shape and prints the figures (scripts/gpu-check.sh keeps this test's
// log): forward 2 * B * NH * T^2 * hs causal FLOPs (two matmuls over half the scores), backward
// 2.5 times that (five). Requires the timed outputs to be finite and non-zero.
template <typename T>
void report_timing(const emu::Shape& p) {
  const auto [B, Tn, C, NH] = p;
  std::mt19937 rng(7);
  const auto qkv = random_floats(std::size_t(B) * Tn * 3 * C, rng, -2.0f, 2.0f);
  OnDevice<T> qkv_d(qkv, 0), dout_d(random_floats(std::size_t(B) * Tn * C, rng), 0);
  OnDevice<T> out_d(std::vector<float>(std::size_t(B) * Tn * C), 0), dqkv_d(std::vector<float>(qkv.size()), 0);
  DeviceBuffer<float> lse_d(std::size_t(B) * NH * Tn);
  DeviceBuffer<unsigned char> scratch(cu::attention_backward_scratch_bytes(B, Tn, C, NH));
  auto fwd = [&] { cu::attention_forward(out_d.get(), lse_d.get(), qkv_d.get(), B, Tn, C, NH, nullptr); };
  auto bwd = [&] {
    cu::attention_backward(dqkv_d.get(), dout_d.get(), qkv_d.get(), out_d.get(), lse_d.get(), scratch.get(), B, Tn,
                           C, NH, nullptr);
  };
  auto time_ms = [](auto&& f) {
    constexpr int kReps = 10;
    f();  // warm-up (and the shared-memory opt-in)
    cudaEvent_t start, stop;
    LLMRT_CUDA_CHECK(cudaEventCreate(&start));
    LLMRT_CUDA_CHECK(cudaEventCreate(&stop));
    LLMRT_CUDA_CHECK(cudaEventRecord(start, nullptr));
    for (int i = 0; i < kReps; i++) f();
    LLMRT_CUDA_CHECK(cudaEventRecord(stop, nullptr));
    LLMRT_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    LLMRT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    LLMRT_CUDA_CHECK(cudaEventDestroy(start));
    LLMRT_CUDA_CHECK(cudaEventDestroy(stop));
    return double(ms) / kReps;
  };
  const double fwd_ms = time_ms(fwd), bwd_ms = time_ms(bwd);
  const double flops = 2.0 * B * NH * double(Tn) * Tn * (C / NH);
  std::printf("attention %s B%d T%d C%d NH%d: forward %.3f ms (%.1f TFLOP/s), backward %.3f ms (%.1f TFLOP/s)\n",
              dtype_name<T>(), B, Tn, C, NH, fwd_ms, flops / fwd_ms * 1e-9, bwd_ms, 2.5 * flops / bwd_ms * 1e-9);
  for (const auto& v : {out_d.host(), dqkv_d.host()}) {
    llmrt::kernels::test::require_nonzero(v, "timed attention output");
    BOOST_TEST(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(odd_head_size_runs_on_cuda_cores_at_every_dtype) { check_all_dtypes({{2, 37, 21, 3}, 40}); }

BOOST_AUTO_TEST_CASE(head_sizes_48_to_128_at_short_t) {
  unsigned seed = 50;
  for (int hs : {48, 64, 80, 96, 128}) {
    for (int T : {1, 17, 64}) check_all_dtypes({{2, T, 2 * hs, 2}, seed++, /*emulate=*/true});
  }
}

BOOST_AUTO_TEST_CASE(head_sizes_48_to_128_at_t1024) {
  unsigned seed = 70;
  for (int hs : {48, 64, 80, 96, 128}) check_all_dtypes({{1, 1024, 2 * hs, 2}, seed++, /*emulate=*/hs == 64});
}

// Head size 40: padded to 48 inside the tensor-core kernels (a masked tail), T with a ragged tile.
BOOST_AUTO_TEST_CASE(padded_head_size_and_ragged_tiles) { check_all_dtypes({{2, 200, 80, 2}, 80, true}); }

// GPT-2 124M's attention at the benchmark's shape.
BOOST_AUTO_TEST_CASE(gpt2_124m_shape) {
  check_attention<bf16>({{4, 1024, 768, 12}, 90});
  check_attention<f16>({{4, 1024, 768, 12}, 91});
  report_timing<bf16>({8, 1024, 768, 12});
  report_timing<f16>({8, 1024, 768, 12});
  report_timing<float>({8, 1024, 768, 12});  // the CUDA-core kernels, for comparison
}

BOOST_AUTO_TEST_CASE(unaligned_qkv_falls_back_and_matches) { check_all_dtypes({{2, 77, 128, 2}, 92, false, 1}); }

BOOST_AUTO_TEST_CASE(a_non_default_stream) {
  cu::CudaStream stream;
  check_all_dtypes({{2, 130, 192, 2}, 93, true, 0, stream.get()});
}

BOOST_AUTO_TEST_CASE(bad_calls_are_refused) {
  DeviceBuffer<bf16> qkv_d(3 * 160), out_d(160);
  DeviceBuffer<float> lse_d(1);
  BOOST_CHECK_THROW(cu::attention_forward(out_d.get(), lse_d.get(), qkv_d.get(), 1, 1, 160, 1, nullptr),
                    cu::CudaError);  // head size 160 > 128
  DeviceBuffer<bf16> dqkv_d(3 * 128);
  BOOST_CHECK_THROW(cu::attention_backward(dqkv_d.get(), out_d.get(), qkv_d.get(), out_d.get(), lse_d.get(), nullptr,
                                           1, 1, 128, 2, nullptr),
                    cu::CudaError);  // the tensor-core backward without its scratch
  BOOST_TEST(cu::attention_backward_scratch_bytes(1, 1, 21, 3) == 0u);  // hs 7: CUDA cores, no scratch
}

LLMRT_CUDA_TEST_MAIN()
