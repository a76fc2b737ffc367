// The op table's CUDA entries (runtime/ops/host_ops_cuda.cpp) against its CPU entries: each op
// called through plugin_ops_table() on a CUDA ctx (non-default stream) at f32, bf16 and f16, and
// on a CPU ctx at f32 with the same (rounded) values; tensors at odd element offsets of flat
// buffers (TwinTensors). Checks the dispatch, the dtype mapping and the table's contracts the
// kernels do not have themselves (attention backward adds, ADD_BIAS rows, *scalar on the device,
// random's values equal to the CPU's bit for bit, the batched GEMM's strides and beta).
#define BOOST_TEST_MODULE cuda_host_ops
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <limits>

#include "cuda/cuda_dtype_util.h"
#include "cuda/cuda_plugin_test_util.h"

using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::random_floats;

namespace {
constexpr int B = 2, T = 9, C = 48, NH = 3, N = B * T, V = 61;
const std::int32_t kDtypes[] = {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16};

double storage_eps(std::int32_t dtype) {
  return dtype == LLMRT_DTYPE_F32 ? Storage<float>::kEps
                                  : dtype == LLMRT_DTYPE_BF16 ? Storage<bf16>::kEps : Storage<f16>::kEps;
}

const llmrt_ops& ops() { return *llmrt::plugin_ops_table(); }

// values rounded to dtype and widened back (llmrt/half.hpp: the rounding of the casts).
std::vector<float> round_dtype(const std::vector<float>& values, std::int32_t dtype) {
  std::vector<std::byte> stored(values.size() * element_bytes(dtype));
  llmrt::from_float(stored.data(), values.data(), dtype, values.size());
  std::vector<float> out(values.size());
  llmrt::to_float(out.data(), stored.data(), dtype, values.size());
  return out;
}

void ok(llmrt_status* status, const std::string& what) {
  if (status == nullptr) return;
  const std::string message = llmrt::host_status_message(status);
  llmrt::host_status_free(status);
  BOOST_FAIL(what << ": " << message);
}

// One op's tensors: activations at `dtype` on the device and f32 on the host (the same values,
// rounded through dtype), f32 tensors (statistics, parameter gradients) on both sides.
class OpTwins {
 public:
  OpTwins(std::int32_t dtype, std::vector<std::vector<std::int64_t>> act, std::vector<std::vector<std::int64_t>> f32)
      : dtype_(dtype), device_(dtype, act), host_(LLMRT_DTYPE_F32, act), f32_(LLMRT_DTYPE_F32, std::move(f32)) {}
  void act(std::size_t i, const std::vector<float>& values) {
    device_.fill(i, values);
    host_.fill(i, device_.host_values(i));  // rounded through dtype
  }
  void f32(std::size_t i, const std::vector<float>& values) { f32_.fill(i, values); }
  std::vector<float> device_act(std::size_t i) const { return device_.device_values(i); }
  std::vector<float> host_act(std::size_t i) const { return host_.host_values(i); }
  void* a(std::size_t i, bool cuda) { return cuda ? device_.device(i).data : host_.host(i).data; }
  float* f(std::size_t i, bool cuda) { return static_cast<float*>(cuda ? f32_.device(i).data : f32_.host(i).data); }
  std::int32_t dtype(bool cuda) const { return cuda ? dtype_ : LLMRT_DTYPE_F32; }
  // factor: T roundings of the result (0 for f32 outputs); len: the fp32 reduction length.
  void check_act(std::size_t i, double len, const std::string& what, double factor = 2.0) const {
    check_close_eps(device_.device_values(i), host_.host_values(i), len, name(what), factor, storage_eps(dtype_));
  }
  void check_f32(std::size_t i, double len, const std::string& what) const {
    check_close_eps(f32_.device_values(i), f32_.host_values(i), len, name(what), 0.0, storage_eps(dtype_));
  }

 private:
  std::string name(const std::string& what) const { return what + " (" + llmrt::host_ops::dtype_name(dtype_) + ")"; }
  std::int32_t dtype_;
  TwinTensors device_, host_, f32_;
};

// Runs body(ctx, cuda) on the CPU, then on CUDA on a non-default stream.
template <typename Body>
void both(cu::CudaStream& stream, Body&& body) {
  for (const bool cuda : {false, true}) body(call_ctx(cuda ? LLMRT_DEVICE_CUDA : LLMRT_DEVICE_CPU, stream.get()), cuda);
}
}  // namespace

BOOST_AUTO_TEST_CASE(norms_match_cpu) {
  cu::CudaStream stream;
  for (const std::int32_t dtype : kDtypes) {
    std::mt19937 rng(60);
    // act: in, weight, bias, out, d_out, d_in; f32: mean, rstd, d_weight, d_bias
    OpTwins t(dtype, {{N, C}, {C}, {C}, {N, C}, {N, C}, {N, C}}, {{N}, {N}, {C}, {C}});
    t.act(0, random_floats(N * C, rng, -2.0f, 3.0f)), t.act(1, random_floats(C, rng, 0.5f, 1.5f));
    t.act(2, random_floats(C, rng)), t.act(4, random_floats(N * C, rng)), t.act(5, random_floats(N * C, rng));
    t.f32(2, random_floats(C, rng)), t.f32(3, random_floats(C, rng));
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_norm_args a{sizeof(a), t.dtype(cu), 0.0f, N, C, t.a(0, cu), t.a(1, cu), t.a(2, cu), t.a(3, cu),
                        t.f(0, cu), t.f(1, cu), t.a(4, cu), t.a(5, cu), t.f(2, cu), t.f(3, cu)};
      ok(ops().layernorm_forward(&ctx, &a), "layernorm_forward");
      ok(ops().layernorm_backward(&ctx, &a), "layernorm_backward");
    });
    t.check_act(3, C, "layernorm out"), t.check_f32(1, C, "layernorm rstd");
    t.check_act(5, C, "layernorm d_in", 4.0), t.check_f32(2, N, "layernorm d_weight");
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_norm_args a{sizeof(a), t.dtype(cu), 0.0f, N, C, t.a(0, cu), t.a(1, cu), t.a(2, cu), t.a(5, cu),
                        t.f(0, cu), t.f(1, cu), nullptr, nullptr, nullptr, nullptr};
      ok(ops().layernorm_apply(&ctx, &a), "layernorm_apply");  // out into slot 5, from the saved statistics
    });
    t.check_act(5, C, "layernorm_apply out");
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_norm_args a{sizeof(a), t.dtype(cu), 1e-4f, N, C, t.a(0, cu), t.a(1, cu), nullptr, t.a(3, cu),
                        nullptr, t.f(1, cu), t.a(4, cu), t.a(5, cu), t.f(2, cu), nullptr};
      ok(ops().rmsnorm_forward(&ctx, &a), "rmsnorm_forward");
      ok(ops().rmsnorm_backward(&ctx, &a), "rmsnorm_backward");
    });
    t.check_act(3, C, "rmsnorm out"), t.check_act(5, C, "rmsnorm d_in", 4.0), t.check_f32(2, N, "rmsnorm d_weight");
  }
}

BOOST_AUTO_TEST_CASE(pointwise_match_cpu) {
  cu::CudaStream stream;
  for (const std::int32_t dtype : kDtypes) {
    std::mt19937 rng(61);
    const std::int64_t n = N * C;
    OpTwins t(dtype, {{n}, {n}, {n}, {n}, {C}}, {{C}, {1}});  // act: a, b, out, d_in, bias; f32: sums, (unused)
    for (std::size_t i = 0; i < 5; i++) t.act(i, random_floats(i == 4 ? C : n, rng, -3.0f, 3.0f));
    for (const std::int32_t kind : {LLMRT_ACT_GELU, LLMRT_ACT_SILU}) {
      both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
        llmrt_activation_args a{sizeof(a), t.dtype(cu), kind, n, t.a(0, cu), t.a(2, cu), t.a(1, cu), t.a(3, cu)};
        ok(ops().activation_forward(&ctx, &a), "activation_forward");
        ok(ops().activation_backward(&ctx, &a), "activation_backward");
      });
      t.check_act(2, 1, "activation out " + std::to_string(kind)), t.check_act(3, 1, "activation d_in", 3.0);
    }
    for (std::int32_t kind = LLMRT_EW_ADD; kind <= LLMRT_EW_ADD_BIAS; kind++) {
      both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
        llmrt_elementwise_args a{sizeof(a), t.dtype(cu), kind, n, C, 0.75f, 0, t.a(0, cu), t.a(1, cu), t.a(4, cu),
                                 t.a(2, cu)};
        ok(ops().elementwise(&ctx, &a), "elementwise " + std::to_string(kind));
      });
      // out accumulates across kinds: each result is rounded once more on the device.
      t.check_act(2, 2, "elementwise kind " + std::to_string(kind), 2.0 * kind);
    }
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_softmax_args a{sizeof(a), t.dtype(cu), 0, N, C, t.a(0, cu), t.a(2, cu), t.a(1, cu), t.a(3, cu)};
      ok(ops().softmax_forward(&ctx, &a), "softmax_forward");
      ok(ops().softmax_backward(&ctx, &a), "softmax_backward");
    });
    t.check_act(2, C, "softmax out"), t.check_act(3, C, "softmax d_in", 5.0);
  }
}

BOOST_AUTO_TEST_CASE(reductions_and_random_match_cpu) {
  cu::CudaStream stream;
  for (const std::int32_t dtype : kDtypes) {
    std::mt19937 rng(62);
    OpTwins t(dtype, {{N, C}, {N * C}}, {{C}});
    t.act(0, random_floats(N * C, rng)), t.f32(0, random_floats(C, rng));
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_reduce_args a{sizeof(a), t.dtype(cu), LLMRT_SUM_ROWS, N, C, t.a(0, cu), t.f(0, cu), nullptr};
      ok(ops().reduce(&ctx, &a), "reduce SUM_ROWS");
    });
    t.check_f32(0, N, "reduce SUM_ROWS");
    DeviceBuffer<double> scalar_d(1);
    for (const std::int32_t kind : {LLMRT_SUM_ALL, LLMRT_SUM_SQUARES}) {
      double host = 0.0, device = 0.0;
      both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
        llmrt_reduce_args a{sizeof(a), t.dtype(cu), kind, N, C, t.a(0, cu), nullptr, cu ? scalar_d.get() : &host};
        ok(ops().reduce(&ctx, &a), "reduce " + std::to_string(kind));
      });
      stream.synchronize();
      scalar_d.download(&device, 1);
      BOOST_TEST(device == host, boost::test_tools::tolerance(1e-9));
    }
    // Random: drawn by the same generator, then rounded to dtype on each side alike.
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_random_args a{sizeof(a), t.dtype(cu), LLMRT_RANDOM_NORMAL, N * C, 7, 1000, 0.5, 2.0, t.a(1, cu)};
      ok(ops().random(&ctx, &a), "random");
    });
    check_equal(t.device_act(1), round_dtype(t.host_act(1), dtype), "random normal, bit for bit");
  }
}

BOOST_AUTO_TEST_CASE(embedding_and_loss_match_cpu) {
  cu::CudaStream stream;
  std::mt19937 rng(63);
  std::vector<float> ids(N), targets(N);
  for (float& x : ids) x = float(rng() % V);
  for (float& x : targets) x = float(rng() % V);
  TwinTensors tokens(LLMRT_DTYPE_I32, {{N}, {N}});
  tokens.fill(0, ids), tokens.fill(1, targets);
  auto tok = [&](std::size_t i, bool cu) {
    return static_cast<const std::int32_t*>((cu ? tokens.device(i) : tokens.host(i)).data);
  };
  for (const std::int32_t dtype : kDtypes) {
    // act: table, positions, out, d_out, logits, d_logits; f32: d_table, d_positions, losses, lse
    OpTwins t(dtype, {{V, C}, {T, C}, {N, C}, {N, C}, {N, V}, {N, V}}, {{V, C}, {T, C}, {N}, {N}});
    for (std::size_t i : {0, 1, 3}) t.act(i, random_floats(i == 0 ? V * C : i == 1 ? T * C : N * C, rng));
    t.act(4, random_floats(N * V, rng, -6.0f, 6.0f));
    t.f32(0, random_floats(V * C, rng)), t.f32(1, random_floats(T * C, rng));
    for (const bool positions : {true, false}) {
      both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
        llmrt_embedding_args a{sizeof(a), t.dtype(cu), 0, B, T, C, V, tok(0, cu), t.a(0, cu),
                               positions ? t.a(1, cu) : nullptr, t.a(2, cu), t.a(3, cu), t.f(0, cu),
                               positions ? t.f(1, cu) : nullptr};
        ok(ops().embedding_forward(&ctx, &a), "embedding_forward");
        ok(ops().embedding_backward(&ctx, &a), "embedding_backward");
      });
      const std::string what = positions ? "embedding" : "embedding without positions";
      t.check_act(2, 1, what + " out", 1.0), t.check_f32(0, N, what + " d_table");
    }
    t.check_f32(1, B, "embedding d_positions");
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_cross_entropy_args a{sizeof(a), t.dtype(cu), 1.3f, N, V, t.a(4, cu), tok(1, cu), t.f(2, cu), t.f(3, cu),
                                 nullptr, t.a(5, cu), /*padded_vocab=*/0};
      ok(ops().cross_entropy_forward(&ctx, &a), "cross_entropy_forward");
      ok(ops().cross_entropy_backward(&ctx, &a), "cross_entropy_backward");
    });
    t.check_f32(2, 64, "cross_entropy losses"), t.check_act(5, 1, "cross_entropy d_logits");
  }
}

// The batched GEMM, every transpose pair, batch 3 at odd strides (unaligned batch elements) and
// padded leading dimensions, alpha 0.75 and beta 1 into a C whose padding must stay untouched;
// then C shared by the batch (stride_c 0: the elements add one after another, as on the CPU);
// then beta 0 into a C full of NaN (never read); then f32 C beside bf16/f16 A and B.
BOOST_AUTO_TEST_CASE(gemm_matches_cpu) {
  cu::CudaStream stream;
  constexpr int m = 24, n = 40, k = 56, batch = 3, pad = 3;
  for (const std::int32_t dtype : kDtypes) {
    for (const int ta : {0, 1}) {
      for (const int tb : {0, 1}) {
        std::mt19937 rng(70 + 2 * ta + tb);
        const std::int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        const std::int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
        const std::int64_t sa = a_rows * lda + 5, sb = b_rows * ldb + 7, sc = m * ldc + 1;
        const std::int64_t a_size = sa * (batch - 1) + a_rows * lda, b_size = sb * (batch - 1) + b_rows * ldb;
        const std::int64_t c_size = sc * (batch - 1) + m * ldc, shared_c_size = m * ldc, tight_c_size = batch * m * n;
        // act: A, B, C (strided), C (shared), C (tight); f32: C (strided) beside 16-bit A and B
        OpTwins t(dtype, {{a_size}, {b_size}, {c_size}, {shared_c_size}, {tight_c_size}}, {{c_size}});
        t.act(0, random_floats(a_size, rng)), t.act(1, random_floats(b_size, rng));
        t.act(2, random_floats(c_size, rng)), t.act(3, random_floats(shared_c_size, rng));
        t.act(4, std::vector<float>(tight_c_size, std::numeric_limits<float>::quiet_NaN()));
        t.f32(0, random_floats(c_size, rng));
        const std::string tag = " trans_a " + std::to_string(ta) + " trans_b " + std::to_string(tb);
        const auto args = [&](bool cu, void* c, std::int64_t c_ld, std::int64_t c_stride, float beta,
                              std::int32_t c_dtype) {
          return llmrt_gemm_args{sizeof(llmrt_gemm_args), ta, tb, m, n, k, 0.75f, beta, t.a(0, cu), lda, sa,
                                 t.a(1, cu), ldb, sb, c, c_ld, c_stride, batch, t.dtype(cu), c_dtype};
        };
        both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
          const llmrt_gemm_args strided = args(cu, t.a(2, cu), ldc, sc, 1.0f, t.dtype(cu));
          ok(ops().gemm(&ctx, &strided), "gemm" + tag);
          const llmrt_gemm_args shared = args(cu, t.a(3, cu), ldc, 0, 1.0f, t.dtype(cu));
          ok(ops().gemm(&ctx, &shared), "gemm, C shared by the batch" + tag);
          const llmrt_gemm_args tight = args(cu, t.a(4, cu), n, m * n, 0.0f, t.dtype(cu));
          ok(ops().gemm(&ctx, &tight), "gemm, beta 0 over NaN" + tag);
          if (dtype != LLMRT_DTYPE_F32) {
            const llmrt_gemm_args wide = args(cu, t.f(0, cu), ldc, sc, 1.0f, LLMRT_DTYPE_F32);
            ok(ops().gemm(&ctx, &wide), "gemm, f32 C" + tag);
          }
        });
        t.check_act(2, k, "gemm C" + tag);
        t.check_act(3, batch * k, "gemm shared C" + tag, 2.0 * batch);  // rounded to dtype after each element
        t.check_act(4, k, "gemm beta 0 C" + tag);
        if (dtype != LLMRT_DTYPE_F32) t.check_f32(0, k, "gemm f32 C" + tag);
      }
    }
  }
}

// The table's attention backward adds into d_qkv (the kernel writes): d_qkv starts non-zero.
BOOST_AUTO_TEST_CASE(linear_and_attention_match_cpu) {
  cu::CudaStream stream;
  for (const std::int32_t dtype : kDtypes) {
    std::mt19937 rng(64);
    // act: in (N, C), weight (3C, C), bias (3C), qkv (N, 3C), att (N, C), d_att (N, C), d_qkv (N, 3C), d_in (N, C)
    OpTwins t(dtype, {{N, C}, {3 * C, C}, {3 * C}, {N, 3 * C}, {N, C}, {N, C}, {N, 3 * C}, {N, C}},
              {{3 * C, C}, {3 * C}, {B, NH, T}});
    t.act(0, random_floats(N * C, rng)), t.act(1, random_floats(3 * C * C, rng, -0.2f, 0.2f));
    t.act(2, random_floats(3 * C, rng)), t.act(5, random_floats(N * C, rng)), t.act(6, random_floats(N * 3 * C, rng));
    t.act(7, random_floats(N * C, rng)), t.f32(0, random_floats(3 * C * C, rng)), t.f32(1, random_floats(3 * C, rng));
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_linear_args l{sizeof(l), t.dtype(cu), 0, N, C, 3 * C, t.a(0, cu), t.a(1, cu), t.a(2, cu), t.a(3, cu),
                          t.a(6, cu), t.a(7, cu), t.f(0, cu), t.f(1, cu)};
      ok(ops().linear_forward(&ctx, &l), "linear_forward");
      ok(ops().linear_backward_input(&ctx, &l), "linear_backward_input");
      ok(ops().linear_backward_weight(&ctx, &l), "linear_backward_weight");
    });
    t.check_act(3, C, "linear out"), t.check_act(7, 3 * C, "linear d_in"), t.check_f32(0, N, "linear d_weight");
    t.act(3, random_floats(N * 3 * C, rng));  // the same rounded qkv on both sides
    both(stream, [&](const llmrt_call_ctx& ctx, bool cu) {
      llmrt_attention_args a{sizeof(a), t.dtype(cu), 0, B, T, C, NH, t.a(3, cu), t.a(4, cu), t.f(2, cu), t.a(5, cu),
                             t.a(6, cu)};
      ok(ops().attention_forward(&ctx, &a), "attention_forward");
      ok(ops().attention_backward(&ctx, &a), "attention_backward");
    });
    t.check_act(4, T, "attention out", 4.0), t.check_act(6, T, "attention d_qkv (+=)", 8.0);  // bf16 P in the mma kernels
  }
}

LLMRT_CUDA_TEST_MAIN()
