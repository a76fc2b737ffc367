// The host side of llmrt_host_api. Status objects are allocated here and only here, so a
// plugin never frees memory another allocator made.
#include "plugin/host_api.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

// The opaque status of the C ABI: defined by the host alone.
struct llmrt_status {
  std::int32_t code;
  std::string message;
};

namespace llmrt {
namespace {

std::atomic<std::uint64_t> g_rng_seed{0};
std::atomic<std::uint64_t> g_rng_offset{0};

llmrt_status* status_new(std::int32_t code, const char* message) {
  // A plugin may pass LLMRT_OK by mistake; it still means "failed" once returned.
  return new (std::nothrow) llmrt_status{code, message != nullptr ? message : ""};
}
std::int32_t status_code(const llmrt_status* status) { return status != nullptr ? status->code : LLMRT_OK; }
const char* status_message(const llmrt_status* status) { return status != nullptr ? status->message.c_str() : ""; }
void status_free(llmrt_status* status) { delete status; }

void log_message(std::int32_t level, const char* component, const char* message) {
  static const char* const kNames[] = {"debug", "info", "warning", "error"};
  const char* name = level >= 0 && level <= 3 ? kNames[level] : "log";
  std::fprintf(stderr, "[%s] %s: %s\n", component != nullptr ? component : "plugin", name,
               message != nullptr ? message : "");
}

llmrt_status* host_alloc(std::size_t bytes, std::size_t alignment, void** out) {
  if (alignment < alignof(std::max_align_t)) alignment = alignof(std::max_align_t);
  if ((alignment & (alignment - 1)) != 0) return status_new(LLMRT_INVALID_ARGUMENT, "alignment is not a power of two");
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  *out = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  return *out != nullptr ? nullptr : status_new(LLMRT_RESOURCE_EXHAUSTED, "host allocation failed");
}
void host_free(void* pointer) { std::free(pointer); }

llmrt_status* device_alloc(llmrt_device device, llmrt_stream*, std::size_t bytes, void** out) {
  if (device.type == LLMRT_DEVICE_CPU) return host_alloc(bytes, 64, out);
  return status_new(LLMRT_UNIMPLEMENTED, "device allocation on this device is not available yet");
}
llmrt_status* device_free(llmrt_device device, llmrt_stream*, void* pointer) {
  if (device.type == LLMRT_DEVICE_CPU) {
    host_free(pointer);
    return nullptr;
  }
  return status_new(LLMRT_UNIMPLEMENTED, "device memory on this device is not available yet");
}
llmrt_status* stream_synchronize(llmrt_stream* stream) {
  return stream == nullptr ? nullptr : status_new(LLMRT_UNIMPLEMENTED, "streams are not available yet");
}

// Collectives of a group of one: the result is the caller's own data.
llmrt_status* comm_info(llmrt_comm*, std::int32_t* rank, std::int32_t* size) {
  *rank = 0;
  *size = 1;
  return nullptr;
}
llmrt_status* copy_elements(const void* send, void* recv, std::size_t count, std::int32_t dtype) {
  const std::size_t element = dtype_size(dtype);
  if (element == 0) return status_new(LLMRT_INVALID_ARGUMENT, "collective: unknown dtype");
  if (send != recv && count > 0) std::memmove(recv, send, count * element);
  return nullptr;
}
llmrt_status* all_reduce(llmrt_comm*, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                         std::int32_t, llmrt_stream*) {
  return copy_elements(send, recv, count, dtype);
}
llmrt_status* all_gather(llmrt_comm*, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                         llmrt_stream*) {
  return copy_elements(send, recv, count, dtype);
}
llmrt_status* reduce_scatter(llmrt_comm*, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                             std::int32_t, llmrt_stream*) {
  return copy_elements(send, recv, count, dtype);
}
llmrt_status* broadcast(llmrt_comm*, void*, std::size_t, std::int32_t, std::int32_t root, llmrt_stream*) {
  return root == 0 ? nullptr : status_new(LLMRT_INVALID_ARGUMENT, "broadcast: root outside a group of 1");
}

llmrt_status* rng_reserve(const llmrt_call_ctx*, std::uint64_t increment, std::uint64_t* seed,
                          std::uint64_t* offset) {
  *seed = g_rng_seed.load();
  *offset = g_rng_offset.fetch_add(increment);
  return nullptr;
}

llmrt_host_api make_host_api() {
  llmrt_host_api api{};
  api.struct_size = sizeof(llmrt_host_api);
  api.abi_major = LLMRT_ABI_MAJOR;
  api.abi_minor = LLMRT_ABI_MINOR;
  api.status_new = &status_new;
  api.status_code = &status_code;
  api.status_message = &status_message;
  api.status_free = &status_free;
  api.log = &log_message;
  api.host_alloc = &host_alloc;
  api.host_free = &host_free;
  api.device_alloc = &device_alloc;
  api.device_free = &device_free;
  api.stream_synchronize = &stream_synchronize;
  api.comm_info = &comm_info;
  api.all_reduce = &all_reduce;
  api.all_gather = &all_gather;
  api.reduce_scatter = &reduce_scatter;
  api.broadcast = &broadcast;
  api.rng_reserve = &rng_reserve;
  return api;
}

}  // namespace

llmrt_host_api& mutable_plugin_host_api() {
  static llmrt_host_api api = make_host_api();
  return api;
}

const llmrt_host_api* plugin_host_api() { return &mutable_plugin_host_api(); }

void set_plugin_rng_seed(std::uint64_t seed) {
  g_rng_seed = seed;
  g_rng_offset = 0;
}

void PluginStatusDeleter::operator()(llmrt_status* status) const { status_free(status); }

Status take_plugin_status(llmrt_status* status, std::string_view context, ErrorKind kind) {
  if (status == nullptr) return Status::success();
  OwnedPluginStatus owned(status);
  return Error(kind, fmt::format("{}: {}", context, status->message));
}

std::int32_t plugin_status_code(const llmrt_status* status) { return status_code(status); }
std::string plugin_status_message(const llmrt_status* status) { return status_message(status); }

std::size_t dtype_size(std::int32_t dtype) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: case LLMRT_DTYPE_I32: return 4;
    case LLMRT_DTYPE_BF16: case LLMRT_DTYPE_F16: return 2;
    case LLMRT_DTYPE_I64: return 8;
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
    default: return "unknown";
  }
}

}  // namespace llmrt
