// Element types as the host sees them: the plugin ABI's llmrt_dtype, plus f64 for the host's
// own scalar reductions (loss, gradient norm), which never crosses the plugin boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <llmrt/plugin.h>

namespace llmrt {

// Host-internal dtype: outside the llmrt_dtype range on purpose, so no plugin can pass it.
inline constexpr std::int32_t kDtypeF64 = 1001;

// Bytes per element of a dtype; 0 for an unknown one.
std::size_t dtype_size(std::int32_t dtype);
std::string_view dtype_name(std::int32_t dtype);

// The dtype of a C++ element type (for typed spans of host buffers).
template <class T>
constexpr std::int32_t dtype_of();
template <> constexpr std::int32_t dtype_of<float>() { return LLMRT_DTYPE_F32; }
template <> constexpr std::int32_t dtype_of<double>() { return kDtypeF64; }
template <> constexpr std::int32_t dtype_of<std::int32_t>() { return LLMRT_DTYPE_I32; }
template <> constexpr std::int32_t dtype_of<std::int64_t>() { return LLMRT_DTYPE_I64; }
template <> constexpr std::int32_t dtype_of<std::uint8_t>() { return LLMRT_DTYPE_U8; }
template <> constexpr std::int32_t dtype_of<std::byte>() { return LLMRT_DTYPE_U8; }

}  // namespace llmrt
