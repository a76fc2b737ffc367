// Sizes and names of the element types.
#include "device/dtype.h"

namespace llmrt {

std::size_t dtype_size(std::int32_t dtype) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: case LLMRT_DTYPE_I32: return 4;
    case LLMRT_DTYPE_BF16: case LLMRT_DTYPE_F16: return 2;
    case LLMRT_DTYPE_I64: case kDtypeF64: return 8;
    case LLMRT_DTYPE_U8: return 1;
    default: return 0;
  }
}

std::string_view dtype_name(std::int32_t dtype) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: return "f32";
    case LLMRT_DTYPE_BF16: return "bf16";
    case LLMRT_DTYPE_F16: return "f16";
    case LLMRT_DTYPE_I32: return "i32";
    case LLMRT_DTYPE_I64: return "i64";
    case LLMRT_DTYPE_U8: return "u8";
    case kDtypeF64: return "f64";
    default: return "unknown";
  }
}

}  // namespace llmrt
