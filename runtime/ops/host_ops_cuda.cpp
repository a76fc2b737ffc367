// The op table's CUDA entries: f32, bf16 or f16 activations (the kernels are templates on the
// storage type, fp32 arithmetic), fp32 statistics and parameter gradients, queued on the call's
// stream (ctx.stream is a cudaStream_t) through kernels/cuda. UNRUN in this project's CI (no
// GPU): it compiles with every CUDA build and is kept to direct kernel calls. What kernels/cuda
// lacks (a dtype, a head size) is refused with LLMRT_UNIMPLEMENTED naming the op.
#include "ops/host_ops.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cuda/kernels_cuda.h"
#include "cuda/ops_cuda.h"
#include "util/stream_retirement.h"

namespace llmrt::host_ops::cuda {
namespace {
namespace cu = kernels::cuda;

[[noreturn]] void unimplemented(const char* op, const std::string& what) {
  throw OpError(LLMRT_UNIMPLEMENTED, std::string("ops.") + op + ": device cuda: " + what);
}

template <typename T>
struct Type {
  using type = T;
};
// Calls f(Type<T>{}) with T the storage type of `dtype`.
template <typename F>
void with_dtype(const char* op, std::int32_t dtype, F&& f) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: return f(Type<float>{});
    case LLMRT_DTYPE_BF16: return f(Type<cu::bf16>{});
    case LLMRT_DTYPE_F16: return f(Type<cu::f16>{});
    default: unimplemented(op, std::string("dtype ") + dtype_name(dtype) + ": the CUDA kernels take f32, bf16 or f16");
  }
}
template <typename T>
const T* in(const void* p) {
  return static_cast<const T*>(p);
}
template <typename T>
T* out(void* p) {
  return static_cast<T*>(p);
}

cudaStream_t stream_of(const llmrt_call_ctx& ctx) { return reinterpret_cast<cudaStream_t>(ctx.stream); }
void bind(const llmrt_call_ctx& ctx) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == ctx.device.index) return;
  LLMRT_CUDA_CHECK(cudaSetDevice(ctx.device.index));
}
// One cuBLASLt context (32 MiB of workspace) per GPU and stream for the op table's GEMMs. A
// GemmContext's workspace and cached descs belong to one stream: stages of one rank run on their
// own streams, so each gets its own, as the GPT layers' do. Freed when its stream is: a stream
// made by the device (CudaStream) calls stream_retired(handle) once its work is done, before the
// driver may hand the handle out again. A stream made elsewhere (a test's cudaStreamCreate, the
// NULL stream) never retires; the entry's stream id (cudaStreamGetId: unique for the process's
// life, unlike the handle) gives a later stream at the same handle a context of its own.
struct GemmEntry {
  unsigned long long stream_id = 0;
  std::unique_ptr<cu::GemmContext> context;
};
struct GemmContexts {
  std::mutex mutex;
  std::map<std::pair<int, cudaStream_t>, GemmEntry> contexts;
};
GemmContexts& gemm_contexts() {
  static auto* contexts = new GemmContexts();  // leaked: contexts of unretired streams may outlive the driver
  return *contexts;
}
void retire_gemm_contexts(const void* stream) noexcept {
  GemmContexts& all = gemm_contexts();
  std::vector<std::pair<int, std::unique_ptr<cu::GemmContext>>> retired;  // destroyed outside the lock
  {
    std::lock_guard lock(all.mutex);
    for (auto it = all.contexts.begin(); it != all.contexts.end();) {
      if (static_cast<const void*>(it->first.second) == stream) {
        retired.emplace_back(it->first.first, std::move(it->second.context));
        it = all.contexts.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Each context's device memory goes with it (cudaFree: the stream's work is done, and a stream
  // is destroyed at teardown, never within a step), on the GPU it was made on.
  int current = -1;
  const bool known = cudaGetDevice(&current) == cudaSuccess;
  for (auto& [device, context] : retired) {
    cudaSetDevice(device);
    context.reset();
  }
  if (known && !retired.empty()) cudaSetDevice(current);
}
cu::GemmContext& gemm_context(const llmrt_call_ctx& ctx) {
  static const bool hooked = (add_stream_retired_hook(&retire_gemm_contexts), true);
  (void)hooked;
  // The stream's id, except while it is captured into a CUDA graph (the driver refuses the query
  // then; the context was made by an eager call before capture).
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  LLMRT_CUDA_CHECK(cudaStreamIsCapturing(stream_of(ctx), &capture));
  const bool capturing = capture != cudaStreamCaptureStatusNone;
  unsigned long long id = 0;
  if (!capturing) LLMRT_CUDA_CHECK(cudaStreamGetId(stream_of(ctx), &id));
  GemmContexts& all = gemm_contexts();
  std::lock_guard lock(all.mutex);
  GemmEntry& entry = all.contexts[{ctx.device.index, stream_of(ctx)}];
  if (entry.context == nullptr || (!capturing && id != entry.stream_id)) {  // none yet, or a new stream at an old handle
    if (capturing) {
      throw cu::CudaError("an op-table GEMM's first call on a stream is being captured into a CUDA graph: its "
                          "cuBLASLt context is made by an eager call before capture");
    }
    // An old stream's context at this handle is let go unfreed (cudaFree here could wait for the
    // device mid-step): only a stream the device did not make, which never retires, leaves one.
    if (entry.context != nullptr) (void)entry.context.release();
    entry = GemmEntry{id, std::make_unique<cu::GemmContext>()};  // on the current device (bind)
  }
  return *entry.context;
}

// Device memory for one call, allocated and freed in stream order (the stream's memory pool: no
// synchronisation, reused across steps), so calls on different streams never share it. The
// kernels (the attention backward's scratch) need 256-byte alignment; cudaMalloc documents it,
// the stream-ordered allocator's reference does not, so the block is padded and the pointer
// rounded up rather than assumed.
class StreamScratch {
 public:
  static constexpr std::size_t kAlignment = 256;
  StreamScratch(std::size_t bytes, cudaStream_t stream) : stream_(stream) {
    if (bytes == 0) return;
    LLMRT_CUDA_CHECK(cudaMallocAsync(&raw_, bytes + kAlignment - 1, stream));
    const auto address = reinterpret_cast<std::uintptr_t>(raw_);
    ptr_ = reinterpret_cast<void*>((address + kAlignment - 1) / kAlignment * kAlignment);
  }
  ~StreamScratch() {
    if (raw_ != nullptr) cudaFreeAsync(raw_, stream_);  // an error here cannot be reported
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* raw_ = nullptr;  // what cudaMallocAsync returned, for cudaFreeAsync
  void* ptr_ = nullptr;  // raw_ rounded up to kAlignment
  cudaStream_t stream_;
};

std::size_t dtype_bytes(std::int32_t dtype) { return dtype == LLMRT_DTYPE_F32 ? 4 : 2; }
}  // namespace

// Row-major strided-batched GEMM through cuBLASLt (kernels/cuda/gemm_batched_cuda.cu). A and B
// share a dtype; C is theirs, or f32 beside bf16/f16 (fp32 compute either way).
void gemm(const llmrt_call_ctx& ctx, const llmrt_gemm_args& a) {
  const bool c_same = a.dtype_c == a.dtype_ab, c_f32 = a.dtype_c == LLMRT_DTYPE_F32;
  if (!c_same && !c_f32) {
    unimplemented("gemm", std::string("dtype_c ") + dtype_name(a.dtype_c) + " with dtype_ab " +
                              dtype_name(a.dtype_ab) + ": C is A and B's dtype, or f32");
  }
  with_dtype("gemm", a.dtype_ab, [&](auto t) {
    using T = typename decltype(t)::type;
    const auto run = [&](auto* c) {
      cu::gemm_strided_batched(a.trans_a != 0, a.trans_b != 0, int(a.m), int(a.n), int(a.k), a.alpha, in<T>(a.a),
                               int(a.lda), a.stride_a, in<T>(a.b), int(a.ldb), a.stride_b, a.beta, c, int(a.ldc),
                               a.stride_c, a.batch == 0 ? 1 : int(a.batch), gemm_context(ctx), stream_of(ctx));
    };
    bind(ctx);
    if (c_same) {
      run(out<T>(a.c));
    } else {
      run(out<float>(a.c));
    }
  });
}

std::size_t live_gemm_contexts() {
  GemmContexts& all = gemm_contexts();
  std::lock_guard lock(all.mutex);
  return all.contexts.size();
}

void linear_forward(const llmrt_call_ctx& ctx, const llmrt_linear_args& a) {
  bind(ctx);
  with_dtype("linear_forward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::matmul_forward<T>(out<T>(a.out), in<T>(a.in), in<T>(a.weight), in<T>(a.bias), int(a.rows),
                          int(a.in_features), int(a.out_features), gemm_context(ctx), stream_of(ctx));
  });
}
void linear_backward_input(const llmrt_call_ctx& ctx, const llmrt_linear_args& a) {
  bind(ctx);
  with_dtype("linear_backward_input", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::matmul_backward_input<T>(out<T>(a.d_in), in<T>(a.d_out), in<T>(a.weight), int(a.rows), int(a.in_features),
                                 int(a.out_features), gemm_context(ctx), stream_of(ctx));
  });
}
void linear_backward_weight(const llmrt_call_ctx& ctx, const llmrt_linear_args& a) {
  bind(ctx);
  with_dtype("linear_backward_weight", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::matmul_backward_weight<T>(a.d_weight, a.d_bias, in<T>(a.d_out), in<T>(a.in), int(a.rows), int(a.in_features),
                                  int(a.out_features), gemm_context(ctx), stream_of(ctx));
  });
}

namespace {
void attention_head_size(const char* op, const llmrt_attention_args& a) {
  const std::int64_t hs = a.channels / a.heads;
  if (hs > cu::kMaxAttentionHeadSize || hs % 8 != 0) {
    unimplemented(op, "head size " + std::to_string(hs) + ": the kernels take a multiple of 8 up to " +
                          std::to_string(cu::kMaxAttentionHeadSize));
  }
}
}  // namespace

void attention_forward(const llmrt_call_ctx& ctx, const llmrt_attention_args& a) {
  attention_head_size("attention_forward", a);
  bind(ctx);
  with_dtype("attention_forward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::attention_forward<T>(out<T>(a.out), a.lse, in<T>(a.qkv), int(a.batch), int(a.seq), int(a.channels),
                             int(a.heads), stream_of(ctx));
  });
}
// The op table's backward adds into d_qkv; the kernel writes: through a stream-ordered buffer.
void attention_backward(const llmrt_call_ctx& ctx, const llmrt_attention_args& a) {
  attention_head_size("attention_backward", a);
  bind(ctx);
  const cudaStream_t s = stream_of(ctx);
  const int B = int(a.batch), Tn = int(a.seq), C = int(a.channels), NH = int(a.heads);
  const std::size_t n = std::size_t(B) * Tn * 3 * C;
  with_dtype("attention_backward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const StreamScratch scratch(cu::attention_backward_scratch_bytes(B, Tn, C, NH), s);
    const StreamScratch dqkv(n * sizeof(T), s);
    cu::attention_backward<T>(dqkv.as<T>(), in<T>(a.d_out), in<T>(a.qkv), in<T>(a.out), a.lse, scratch.as<void>(), B,
                              Tn, C, NH, s);
    cu::residual_accumulate<T>(out<T>(a.d_qkv), dqkv.as<T>(), n, s);
  });
}

void layernorm_forward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a) {
  bind(ctx);
  with_dtype("layernorm_forward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::layernorm_forward<T>(out<T>(a.out), a.mean, a.rstd, in<T>(a.in), in<T>(a.weight), in<T>(a.bias), int(a.rows),
                             int(a.channels), stream_of(ctx));
  });
}
void layernorm_apply(const llmrt_call_ctx& ctx, const llmrt_norm_args& a) {
  bind(ctx);
  with_dtype("layernorm_apply", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::layernorm_apply<T>(out<T>(a.out), in<T>(a.in), a.mean, a.rstd, in<T>(a.weight), in<T>(a.bias), int(a.rows),
                           int(a.channels), stream_of(ctx));
  });
}
void layernorm_backward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a) {
  bind(ctx);
  with_dtype("layernorm_backward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::layernorm_backward<T>(out<T>(a.d_in), a.d_weight, a.d_bias, in<T>(a.d_out), in<T>(a.in), in<T>(a.weight),
                              a.mean, a.rstd, int(a.rows), int(a.channels), stream_of(ctx));
  });
}
void rmsnorm_forward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a) {
  bind(ctx);
  with_dtype("rmsnorm_forward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::rmsnorm_forward<T>(out<T>(a.out), a.rstd, in<T>(a.in), in<T>(a.weight), int(a.rows), int(a.channels),
                           a.eps == 0.0f ? 1e-5f : a.eps, stream_of(ctx));
  });
}
void rmsnorm_backward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a) {
  bind(ctx);
  with_dtype("rmsnorm_backward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::rmsnorm_backward<T>(out<T>(a.d_in), a.d_weight, in<T>(a.d_out), in<T>(a.in), in<T>(a.weight), a.rstd,
                            int(a.rows), int(a.channels), stream_of(ctx));
  });
}

void activation_forward(const llmrt_call_ctx& ctx, const llmrt_activation_args& a) {
  bind(ctx);
  with_dtype("activation_forward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const auto n = std::size_t(a.count);
    if (a.kind == LLMRT_ACT_GELU) return cu::gelu_forward<T>(out<T>(a.out), in<T>(a.in), n, stream_of(ctx));
    cu::silu_forward<T>(out<T>(a.out), in<T>(a.in), n, stream_of(ctx));
  });
}
void activation_backward(const llmrt_call_ctx& ctx, const llmrt_activation_args& a) {
  bind(ctx);
  with_dtype("activation_backward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const auto n = std::size_t(a.count);
    if (a.kind == LLMRT_ACT_GELU) {
      return cu::gelu_backward<T>(out<T>(a.d_in), in<T>(a.in), in<T>(a.d_out), n, stream_of(ctx));
    }
    cu::silu_backward<T>(out<T>(a.d_in), in<T>(a.in), in<T>(a.d_out), n, stream_of(ctx));
  });
}

void softmax_forward(const llmrt_call_ctx& ctx, const llmrt_softmax_args& a) {
  bind(ctx);
  with_dtype("softmax_forward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::softmax_forward<T>(out<T>(a.out), in<T>(a.in), int(a.rows), int(a.cols), stream_of(ctx));
  });
}
void softmax_backward(const llmrt_call_ctx& ctx, const llmrt_softmax_args& a) {
  bind(ctx);
  with_dtype("softmax_backward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    cu::softmax_backward<T>(out<T>(a.d_in), in<T>(a.d_out), in<T>(a.out), int(a.rows), int(a.cols), stream_of(ctx));
  });
}

void elementwise(const llmrt_call_ctx& ctx, const llmrt_elementwise_args& a) {
  bind(ctx);
  with_dtype("elementwise", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const auto n = std::size_t(a.count);
    const cudaStream_t s = stream_of(ctx);
    switch (a.kind) {
      case LLMRT_EW_ADD: return cu::residual_forward<T>(out<T>(a.out), in<T>(a.a), in<T>(a.b), n, s);
      case LLMRT_EW_ACCUMULATE: return cu::residual_accumulate<T>(out<T>(a.out), in<T>(a.a), n, s);
      case LLMRT_EW_MUL: return cu::mul_forward<T>(out<T>(a.out), in<T>(a.a), in<T>(a.b), n, s);
      case LLMRT_EW_MUL_ACCUMULATE: return cu::mul_accumulate<T>(out<T>(a.out), in<T>(a.a), in<T>(a.b), n, s);
      case LLMRT_EW_SCALE: return cu::scale_forward<T>(out<T>(a.out), in<T>(a.a), a.alpha, n, s);
      default:  // ADD_BIAS; the entry checked that cols divides count
        return cu::add_bias<T>(out<T>(a.out), in<T>(a.a), in<T>(a.bias), int(a.count / a.cols), int(a.cols), s);
    }
  });
}

// SUM_ROWS adds into out (C); the scalar kinds write *scalar (device memory) in fp64.
void reduce(const llmrt_call_ctx& ctx, const llmrt_reduce_args& a) {
  bind(ctx);
  const cudaStream_t s = stream_of(ctx);
  with_dtype("reduce", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if (a.kind == LLMRT_SUM_ROWS) return cu::sum_rows<T>(a.out, in<T>(a.in), int(a.rows), int(a.cols), s);
    const StreamScratch scratch(cu::kSumOfSquaresBlocks * sizeof(double), s);
    cu::sum_all<T>(a.scalar, in<T>(a.in), std::size_t(a.rows) * std::size_t(a.cols), a.kind == LLMRT_SUM_SQUARES,
                   scratch.as<double>(), s);
  });
}

void cast(const llmrt_call_ctx& ctx, const llmrt_cast_args& a) {
  bind(ctx);
  const std::size_t n = std::size_t(a.count);
  const cudaStream_t s = stream_of(ctx);
  using F = float;
  const std::int32_t from = a.src_dtype, to = a.dst_dtype;
  if (from == to) {
    LLMRT_CUDA_CHECK(cudaMemcpyAsync(a.out, a.in, n * dtype_bytes(from), cudaMemcpyDeviceToDevice, s));
  } else if (from == LLMRT_DTYPE_BF16 && to == LLMRT_DTYPE_F32) {
    cu::bf16_to_float(out<F>(a.out), in<cu::bf16>(a.in), n, s);
  } else if (from == LLMRT_DTYPE_F32 && to == LLMRT_DTYPE_BF16) {
    cu::float_to_bf16(out<cu::bf16>(a.out), in<F>(a.in), n, s);
  } else if (from == LLMRT_DTYPE_F16 && to == LLMRT_DTYPE_F32) {
    cu::f16_to_float(out<F>(a.out), in<cu::f16>(a.in), n, s);
  } else if (from == LLMRT_DTYPE_F32 && to == LLMRT_DTYPE_F16) {
    cu::float_to_f16(out<cu::f16>(a.out), in<F>(a.in), n, s);
  } else if (from == LLMRT_DTYPE_BF16) {
    cu::bf16_to_f16(out<cu::f16>(a.out), in<cu::bf16>(a.in), n, s);
  } else {
    cu::f16_to_bf16(out<cu::bf16>(a.out), in<cu::f16>(a.in), n, s);
  }
}

// Drawn on the host by the CPU's generator (the same values on every device, which is the op's
// contract) and copied: random fills are initialisation, not the steady state. A copy from
// pageable memory returns once the bytes are staged, so the host buffer may go at return.
void random(const llmrt_call_ctx& ctx, const llmrt_random_args& a) {
  bind(ctx);
  const std::size_t bytes = std::size_t(a.count) * dtype_bytes(a.dtype);
  std::vector<unsigned char> host(bytes);
  llmrt_random_args on_host = a;
  on_host.out = host.data();
  random_cpu(on_host);
  LLMRT_CUDA_CHECK(cudaMemcpyAsync(a.out, host.data(), bytes, cudaMemcpyHostToDevice, stream_of(ctx)));
}

void embedding_forward(const llmrt_call_ctx& ctx, const llmrt_embedding_args& a) {
  bind(ctx);
  with_dtype("embedding_forward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const int B = int(a.batch), Tn = int(a.seq), C = int(a.channels);
    if (a.positions == nullptr) {
      return cu::embedding_gather<T>(out<T>(a.out), a.tokens, in<T>(a.table), B * Tn, C, stream_of(ctx));
    }
    cu::encoder_forward<T>(out<T>(a.out), a.tokens, in<T>(a.table), in<T>(a.positions), B, Tn, C, stream_of(ctx));
  });
}
void embedding_backward(const llmrt_call_ctx& ctx, const llmrt_embedding_args& a) {
  bind(ctx);
  with_dtype("embedding_backward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const int B = int(a.batch), Tn = int(a.seq), C = int(a.channels);
    if (a.d_positions == nullptr) {
      return cu::embedding_gather_backward<T>(a.d_table, in<T>(a.d_out), a.tokens, B * Tn, C, stream_of(ctx));
    }
    cu::encoder_backward<T>(a.d_table, a.d_positions, in<T>(a.d_out), a.tokens, B, Tn, C, stream_of(ctx));
  });
}

// The mean loss stays on the device (a host mean would stall the stream): mean_loss must be NULL.
void cross_entropy_forward(const llmrt_call_ctx& ctx, const llmrt_cross_entropy_args& a) {
  if (a.mean_loss != nullptr) {
    unimplemented("cross_entropy_forward", "mean_loss must be NULL (average losses on device)");
  }
  bind(ctx);
  with_dtype("cross_entropy_forward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const int V = int(a.vocab), Vp = a.padded_vocab > 0 ? int(a.padded_vocab) : V;  // checked by the entry
    cu::crossentropy_forward<T>(a.losses, a.lse, in<T>(a.logits), a.targets, int(a.rows), V, Vp, stream_of(ctx));
  });
}
void cross_entropy_backward(const llmrt_call_ctx& ctx, const llmrt_cross_entropy_args& a) {
  bind(ctx);
  with_dtype("cross_entropy_backward", a.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    const int V = int(a.vocab), Vp = a.padded_vocab > 0 ? int(a.padded_vocab) : V;  // checked by the entry
    cu::crossentropy_backward<T>(out<T>(a.d_logits), in<T>(a.logits), a.lse, a.targets, a.d_loss, nullptr,
                                 int(a.rows), V, Vp, stream_of(ctx));
  });
}

}  // namespace llmrt::host_ops::cuda
