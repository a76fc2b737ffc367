// Internal to the op table's entries (host_ops*.cpp): the per-call argument checks, whose
// messages all start "ops.<op>: ", and entry(), which picks the backend and turns what an entry
// throws into the status it returns.
#pragma once

#include "ops/host_ops.h"
#include "ops/host_status.h"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

namespace llmrt::host_ops {

enum class Backend { kCpu, kCuda };

// The checks of one call, whose messages all start "ops.<op>: ".
struct Check {
  const char* op;
  [[noreturn]] void fail(std::int32_t code, const std::string& what) const {
    throw OpError(code, std::string("ops.") + op + ": " + what);
  }
  void require(bool ok, const std::string& what) const {
    if (!ok) fail(LLMRT_INVALID_ARGUMENT, what);
  }
  // A dimension the kernels take as int.
  int dim(std::int64_t value, const char* name) const {
    require(value >= 0 && value <= INT_MAX, std::string(name) + " = " + std::to_string(value) + " is not in [0, 2^31)");
    return static_cast<int>(value);
  }
  // A product of dimensions the kernels index with int: each factor non-negative, the product
  // computed without overflow and within int.
  int dim_product(std::initializer_list<std::int64_t> factors, const char* name) const {
    std::int64_t product = 1;
    for (const std::int64_t factor : factors) {
      require(factor >= 0 && !__builtin_mul_overflow(product, factor, &product),
              std::string(name) + " overflows");
    }
    return dim(product, name);
  }
  void ptr(const void* pointer, const char* name) const { require(pointer != nullptr, std::string(name) + " is NULL"); }
  void cpu_f32(std::int32_t dtype) const {
    if (dtype != LLMRT_DTYPE_F32) {
      fail(LLMRT_UNIMPLEMENTED, std::string("dtype ") + dtype_name(dtype) +
                                    " on cpu: no kernel (the CPU ops are f32; widen with ops.cast)");
    }
  }
};

inline Backend backend_of(const Check& check, const llmrt_call_ctx& ctx) {
  if (ctx.device.type == LLMRT_DEVICE_CPU) return Backend::kCpu;
  if (ctx.device.type == LLMRT_DEVICE_CUDA) {
#if LLMRT_HAVE_CUDA
    return Backend::kCuda;
#else
    check.fail(LLMRT_UNIMPLEMENTED, "device cuda: this llmrt was built without CUDA");
#endif
  }
  check.fail(LLMRT_UNIMPLEMENTED, "device type " + std::to_string(ctx.device.type) + " is unknown");
}

// The smallest args.struct_size an entry takes: sizeof(Args), or for a struct that gained fields
// after it first shipped, its size then (the appended fields read as 0, their documented default).
template <typename Args>
inline constexpr std::size_t kFirstArgsSize = sizeof(Args);
template <>
inline constexpr std::size_t kFirstArgsSize<llmrt_cross_entropy_args> = offsetof(llmrt_cross_entropy_args, padded_vocab);

// Runs body(check, ctx, args, backend) and turns what it throws into the status the entry returns.
// The body sees a copy of the caller's struct, zero past the caller's struct_size.
template <typename Args, typename Body>
llmrt_status* entry(const char* op, const llmrt_call_ctx* ctx, const Args* args, Body&& body) {
  try {
    const Check check{op};
    check.ptr(ctx, "ctx");
    check.ptr(args, "args");
    check.require(args->struct_size >= kFirstArgsSize<Args>, "args.struct_size = " + std::to_string(args->struct_size) +
                                                                 ", expected at least " +
                                                                 std::to_string(kFirstArgsSize<Args>));
    Args known{};
    std::memcpy(static_cast<void*>(&known), args, std::min(args->struct_size, sizeof(Args)));
    body(check, *ctx, known, backend_of(check, *ctx));
    return nullptr;
  } catch (const OpError& error) {
    return host_status_new(error.code(), error.what());
  } catch (const std::exception& error) {  // a CUDA failure
    return host_status_new(LLMRT_INTERNAL, (std::string("ops.") + op + ": " + error.what()).c_str());
  }
}

// The entries of host_ops_pointwise.cpp, for the table in host_ops.cpp.
llmrt_status* layernorm_forward(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
llmrt_status* layernorm_apply(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
llmrt_status* layernorm_backward(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
llmrt_status* rmsnorm_forward(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
llmrt_status* rmsnorm_backward(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
llmrt_status* activation_forward(const llmrt_call_ctx* ctx, const llmrt_activation_args* args);
llmrt_status* activation_backward(const llmrt_call_ctx* ctx, const llmrt_activation_args* args);
llmrt_status* softmax_forward(const llmrt_call_ctx* ctx, const llmrt_softmax_args* args);
llmrt_status* softmax_backward(const llmrt_call_ctx* ctx, const llmrt_softmax_args* args);
llmrt_status* elementwise(const llmrt_call_ctx* ctx, const llmrt_elementwise_args* args);
llmrt_status* reduce(const llmrt_call_ctx* ctx, const llmrt_reduce_args* args);
llmrt_status* cast(const llmrt_call_ctx* ctx, const llmrt_cast_args* args);
llmrt_status* random(const llmrt_call_ctx* ctx, const llmrt_random_args* args);
llmrt_status* embedding_forward(const llmrt_call_ctx* ctx, const llmrt_embedding_args* args);
llmrt_status* embedding_backward(const llmrt_call_ctx* ctx, const llmrt_embedding_args* args);
llmrt_status* cross_entropy_forward(const llmrt_call_ctx* ctx, const llmrt_cross_entropy_args* args);
llmrt_status* cross_entropy_backward(const llmrt_call_ctx* ctx, const llmrt_cross_entropy_args* args);

}  // namespace llmrt::host_ops
