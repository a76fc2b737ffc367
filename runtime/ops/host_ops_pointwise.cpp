// The op table's row and element entries: norms, activations, softmax, elementwise, reductions,
// cast, random, embedding and cross-entropy (GEMM, linear and attention are in host_ops.cpp).
#include "ops/host_ops_entry.h"

#include <string>

#include "cpu/kernels_cpu.h"

namespace llmrt::host_ops {
namespace {
namespace cpu = kernels::cpu;

struct RowDims {
  int n, c;
};
RowDims row_dims(const Check& c, std::int64_t rows, std::int64_t cols, const char* rows_name, const char* cols_name) {
  const RowDims d{c.dim(rows, rows_name), c.dim(cols, cols_name)};
  c.require(std::int64_t(d.n) * d.c <= std::int64_t(1) << 40, "rows * cols is too large");
  return d;
}
const float* f(const void* p) { return static_cast<const float*>(p); }
float* f(void* p) { return static_cast<float*>(p); }

// The eps a CPU LayerNorm kernel has (1e-5, as torch's default); 0 means it.
void layernorm_eps(const Check& c, float eps) {
  if (eps != 0.0f && eps != 1e-5f) c.fail(LLMRT_UNIMPLEMENTED, "eps " + std::to_string(eps) + ": the kernel has 1e-5 only");
}
}  // namespace

llmrt_status* layernorm_forward(const llmrt_call_ctx* ctx, const llmrt_norm_args* args) {
  return entry("layernorm_forward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_norm_args& a, [[maybe_unused]] Backend b) {
    const RowDims d = row_dims(c, a.rows, a.channels, "rows", "channels");
    c.ptr(a.in, "in"), c.ptr(a.weight, "weight"), c.ptr(a.bias, "bias"), c.ptr(a.out, "out");
    c.ptr(a.mean, "mean"), c.ptr(a.rstd, "rstd");
    layernorm_eps(c, a.eps);
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::layernorm_forward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::layernorm_forward(f(a.out), a.mean, a.rstd, f(a.in), f(a.weight), f(a.bias), d.n, d.c);
  });
}

llmrt_status* layernorm_apply(const llmrt_call_ctx* ctx, const llmrt_norm_args* args) {
  return entry("layernorm_apply", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_norm_args& a, [[maybe_unused]] Backend b) {
    const RowDims d = row_dims(c, a.rows, a.channels, "rows", "channels");
    c.ptr(a.in, "in"), c.ptr(a.weight, "weight"), c.ptr(a.bias, "bias"), c.ptr(a.out, "out");
    c.ptr(a.mean, "mean"), c.ptr(a.rstd, "rstd");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::layernorm_apply(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::layernorm_apply(f(a.out), f(a.in), a.mean, a.rstd, f(a.weight), f(a.bias), d.n, d.c);
  });
}

llmrt_status* layernorm_backward(const llmrt_call_ctx* ctx, const llmrt_norm_args* args) {
  return entry("layernorm_backward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_norm_args& a, [[maybe_unused]] Backend b) {
    const RowDims d = row_dims(c, a.rows, a.channels, "rows", "channels");
    c.ptr(a.d_out, "d_out"), c.ptr(a.in, "in"), c.ptr(a.weight, "weight"), c.ptr(a.mean, "mean"), c.ptr(a.rstd, "rstd");
    c.require((a.d_weight == nullptr) == (a.d_bias == nullptr), "d_weight and d_bias must be both set or both NULL");
    c.require(a.d_in != nullptr || a.d_weight != nullptr, "nothing to compute: d_in, d_weight and d_bias are NULL");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::layernorm_backward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::layernorm_backward(f(a.d_in), a.d_weight, a.d_bias, f(a.d_out), f(a.in), f(a.weight), a.mean, a.rstd, d.n, d.c);
  });
}

llmrt_status* rmsnorm_forward(const llmrt_call_ctx* ctx, const llmrt_norm_args* args) {
  return entry("rmsnorm_forward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_norm_args& a, [[maybe_unused]] Backend b) {
    const RowDims d = row_dims(c, a.rows, a.channels, "rows", "channels");
    c.ptr(a.in, "in"), c.ptr(a.weight, "weight"), c.ptr(a.out, "out"), c.ptr(a.rstd, "rstd");
    c.require(a.eps >= 0.0f, "eps is negative");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::rmsnorm_forward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::rmsnorm_forward(f(a.out), a.rstd, f(a.in), f(a.weight), d.n, d.c, a.eps == 0.0f ? 1e-5f : a.eps);
  });
}

llmrt_status* rmsnorm_backward(const llmrt_call_ctx* ctx, const llmrt_norm_args* args) {
  return entry("rmsnorm_backward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_norm_args& a, [[maybe_unused]] Backend b) {
    const RowDims d = row_dims(c, a.rows, a.channels, "rows", "channels");
    c.ptr(a.d_out, "d_out"), c.ptr(a.in, "in"), c.ptr(a.weight, "weight"), c.ptr(a.rstd, "rstd");
    c.require(a.d_in != nullptr || a.d_weight != nullptr, "nothing to compute: d_in and d_weight are NULL");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::rmsnorm_backward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::rmsnorm_backward(f(a.d_in), a.d_weight, f(a.d_out), f(a.in), f(a.weight), a.rstd, d.n, d.c);
  });
}

llmrt_status* activation_forward(const llmrt_call_ctx* ctx, const llmrt_activation_args* args) {
  return entry("activation_forward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_activation_args& a, [[maybe_unused]] Backend b) {
    c.require(a.kind == LLMRT_ACT_GELU || a.kind == LLMRT_ACT_SILU, "kind = " + std::to_string(a.kind) + " is not GELU (1) or SILU (2)");
    c.require(a.count >= 0, "count is negative");
    c.ptr(a.in, "in"), c.ptr(a.out, "out");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::activation_forward(x, a);
#endif
    c.cpu_f32(a.dtype);
    if (a.kind == LLMRT_ACT_GELU) cpu::gelu_forward(f(a.out), f(a.in), size_t(a.count));
    else cpu::silu_forward(f(a.out), f(a.in), size_t(a.count));
  });
}

llmrt_status* activation_backward(const llmrt_call_ctx* ctx, const llmrt_activation_args* args) {
  return entry("activation_backward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_activation_args& a, [[maybe_unused]] Backend b) {
    c.require(a.kind == LLMRT_ACT_GELU || a.kind == LLMRT_ACT_SILU, "kind = " + std::to_string(a.kind) + " is not GELU (1) or SILU (2)");
    c.require(a.count >= 0, "count is negative");
    c.ptr(a.in, "in"), c.ptr(a.d_out, "d_out"), c.ptr(a.d_in, "d_in");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::activation_backward(x, a);
#endif
    c.cpu_f32(a.dtype);
    if (a.kind == LLMRT_ACT_GELU) cpu::gelu_backward(f(a.d_in), f(a.in), f(a.d_out), size_t(a.count));
    else cpu::silu_backward(f(a.d_in), f(a.in), f(a.d_out), size_t(a.count));
  });
}

llmrt_status* softmax_forward(const llmrt_call_ctx* ctx, const llmrt_softmax_args* args) {
  return entry("softmax_forward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_softmax_args& a, [[maybe_unused]] Backend b) {
    const RowDims d = row_dims(c, a.rows, a.cols, "rows", "cols");
    c.ptr(a.in, "in"), c.ptr(a.out, "out");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::softmax_forward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::softmax_forward(f(a.out), f(a.in), d.n, d.c);
  });
}

llmrt_status* softmax_backward(const llmrt_call_ctx* ctx, const llmrt_softmax_args* args) {
  return entry("softmax_backward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_softmax_args& a, [[maybe_unused]] Backend b) {
    const RowDims d = row_dims(c, a.rows, a.cols, "rows", "cols");
    c.ptr(a.out, "out"), c.ptr(a.d_out, "d_out"), c.ptr(a.d_in, "d_in");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::softmax_backward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::softmax_backward(f(a.d_in), f(a.d_out), f(a.out), d.n, d.c);
  });
}

llmrt_status* elementwise(const llmrt_call_ctx* ctx, const llmrt_elementwise_args* args) {
  return entry("elementwise", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_elementwise_args& a, [[maybe_unused]] Backend b) {
    c.require(a.kind >= LLMRT_EW_ADD && a.kind <= LLMRT_EW_ADD_BIAS, "kind = " + std::to_string(a.kind) + " is unknown");
    c.require(a.count >= 0, "count is negative");
    c.ptr(a.out, "out");
    const bool two = a.kind == LLMRT_EW_ADD || a.kind == LLMRT_EW_MUL || a.kind == LLMRT_EW_MUL_ACCUMULATE;
    if (a.kind != LLMRT_EW_ADD_BIAS) c.ptr(a.a, "a");
    if (two) c.ptr(a.b, "b");
    if (a.kind == LLMRT_EW_ADD_BIAS) {
      c.ptr(a.bias, "bias");
      c.require(a.cols > 0 && a.count % a.cols == 0,
                "cols = " + std::to_string(a.cols) + " does not divide count = " + std::to_string(a.count));
    }
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::elementwise(x, a);
#endif
    c.cpu_f32(a.dtype);
    const size_t n = size_t(a.count);
    switch (a.kind) {
      case LLMRT_EW_ADD: return cpu::residual_forward(f(a.out), f(a.a), f(a.b), n);
      case LLMRT_EW_ACCUMULATE: return cpu::residual_accumulate(f(a.out), f(a.a), n);
      case LLMRT_EW_MUL: return cpu::mul_forward(f(a.out), f(a.a), f(a.b), n);
      case LLMRT_EW_MUL_ACCUMULATE: return cpu::mul_accumulate(f(a.out), f(a.a), f(a.b), n);
      case LLMRT_EW_SCALE: return cpu::scale_forward(f(a.out), f(a.a), a.alpha, n);
      default: {
        const RowDims d = row_dims(c, a.count / a.cols, a.cols, "count / cols", "cols");
        return cpu::add_bias(f(a.out), f(a.a), f(a.bias), d.n, d.c);
      }
    }
  });
}

llmrt_status* reduce(const llmrt_call_ctx* ctx, const llmrt_reduce_args* args) {
  return entry("reduce", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_reduce_args& a, [[maybe_unused]] Backend b) {
    c.require(a.kind >= LLMRT_SUM_ROWS && a.kind <= LLMRT_SUM_SQUARES, "kind = " + std::to_string(a.kind) + " is unknown");
    const RowDims d = row_dims(c, a.rows, a.cols, "rows", "cols");
    c.ptr(a.in, "in");
    if (a.kind == LLMRT_SUM_ROWS) c.ptr(a.out, "out");
    else c.ptr(a.scalar, "scalar");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::reduce(x, a);
#endif
    c.cpu_f32(a.dtype);
    if (a.kind == LLMRT_SUM_ROWS) cpu::sum_rows(a.out, f(a.in), d.n, d.c);
    else *a.scalar = cpu::sum_all(f(a.in), size_t(d.n) * size_t(d.c), a.kind == LLMRT_SUM_SQUARES);
  });
}

llmrt_status* cast(const llmrt_call_ctx* ctx, const llmrt_cast_args* args) {
  return entry("cast", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_cast_args& a, [[maybe_unused]] Backend b) {
    for (std::int32_t dtype : {a.src_dtype, a.dst_dtype}) {
      if (dtype != LLMRT_DTYPE_F32 && dtype != LLMRT_DTYPE_BF16 && dtype != LLMRT_DTYPE_F16) {
        c.fail(LLMRT_UNIMPLEMENTED, std::string("dtype ") + dtype_name(dtype) + ": cast is between f32, bf16 and f16");
      }
    }
    c.require(a.count >= 0, "count is negative");
    c.ptr(a.in, "in"), c.ptr(a.out, "out");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::cast(x, a);
#endif
    cast_cpu(a);
  });
}

llmrt_status* random(const llmrt_call_ctx* ctx, const llmrt_random_args* args) {
  return entry("random", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_random_args& a, [[maybe_unused]] Backend b) {
    c.require(a.kind == LLMRT_RANDOM_NORMAL || a.kind == LLMRT_RANDOM_UNIFORM,
              "kind = " + std::to_string(a.kind) + " is not NORMAL (1) or UNIFORM (2)");
    c.require(a.count >= 0, "count is negative");
    c.ptr(a.out, "out");
    c.require(a.kind == LLMRT_RANDOM_UNIFORM ? a.a <= a.b : a.b >= 0, a.kind == LLMRT_RANDOM_UNIFORM ? "a > b" : "b (the standard deviation) is negative");
    if (a.dtype != LLMRT_DTYPE_F32 && a.dtype != LLMRT_DTYPE_BF16 && a.dtype != LLMRT_DTYPE_F16) {
      c.fail(LLMRT_UNIMPLEMENTED, std::string("dtype ") + dtype_name(a.dtype) + ": random fills f32, bf16 or f16");
    }
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::random(x, a);
#endif
    random_cpu(a);
  });
}

}  // namespace llmrt::host_ops
