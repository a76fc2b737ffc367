// The host side of llmrt_host_api (statuses in host_status.cpp, the op table in host_ops*.cpp).
#include "plugin/host_api.h"
#include "device/capture_region.h"

#include "device/collectives.h"
#include "device/device.h"
#include "ops/host_ops.h"
#include "ops/host_status.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace llmrt {
namespace {

// For calls without a job's context only (tests, tools); training calls carry their job's state.
PluginJobState& contextless_state() {
  static PluginJobState state;
  return state;
}

llmrt_status* status_new(std::int32_t code, const char* message) { return host_status_new(code, message); }
std::int32_t status_code(const llmrt_status* status) { return host_status_code(status); }
const char* status_message(const llmrt_status* status) { return host_status_message(status); }
void status_free(llmrt_status* status) { host_status_free(status); }

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

llmrt_status* from_status(const Status& status) {
  if (status.ok()) return nullptr;
  const bool input = status.error().kind() == ErrorKind::kInput;
  return status_new(input ? LLMRT_INVALID_ARGUMENT : LLMRT_INTERNAL, status.error().message().c_str());
}

// ComputeDevice memory belongs to the ComputeDevice of `device`; the stream orders it on the GPU.
llmrt_status* device_alloc(llmrt_device device, llmrt_stream*, std::size_t bytes, void** out) {
  ComputeDevice* owner = device_for(device);
  if (owner == nullptr) return status_new(LLMRT_UNIMPLEMENTED, "device_alloc: no such device in this build");
  auto memory = owner->allocate(bytes);
  if (!memory.ok()) return from_status(memory.error().with_context("device_alloc"));
  *out = *memory;
  return nullptr;
}
llmrt_status* device_free(llmrt_device device, llmrt_stream*, void* pointer) {
  ComputeDevice* owner = device_for(device);
  if (owner == nullptr) return status_new(LLMRT_UNIMPLEMENTED, "device_free: no such device in this build");
  // Inside a step's CUDA graph region the free still happens (nothing leaks), and is refused.
  const Status in_region = CaptureRegion::refuse("device_free");
  owner->free(pointer);
  return from_status(in_region);
}
llmrt_status* stream_synchronize(llmrt_stream* stream) { return from_status(synchronize_plugin_stream(stream)); }

// Collectives dispatch through the group's handle; NULL (or a handle without collectives) is
// a group of one, whose results are the caller's own data.
Collectives& group_of(llmrt_comm* comm) {
  static SelfCollectives alone(cpu_device());
  return comm != nullptr && comm->collectives != nullptr ? *comm->collectives : alone;
}
llmrt_status* comm_info(llmrt_comm* comm, std::int32_t* rank, std::int32_t* size) {
  *rank = group_of(comm).rank();
  *size = group_of(comm).size();
  return nullptr;
}
llmrt_status* all_reduce(llmrt_comm* comm, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                         std::int32_t op, llmrt_stream* stream) {
  return from_status(group_of(comm).all_reduce(send, recv, count, dtype, op, stream));
}
llmrt_status* all_gather(llmrt_comm* comm, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                         llmrt_stream* stream) {
  return from_status(group_of(comm).all_gather(send, recv, count, dtype, stream));
}
llmrt_status* reduce_scatter(llmrt_comm* comm, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                             std::int32_t op, llmrt_stream* stream) {
  return from_status(group_of(comm).reduce_scatter(send, recv, count, dtype, op, stream));
}
llmrt_status* broadcast(llmrt_comm* comm, void* buffer, std::size_t count, std::int32_t dtype, std::int32_t root,
                        llmrt_stream* stream) {
  return from_status(group_of(comm).broadcast(buffer, count, dtype, root, stream));
}

llmrt_status* rng_reserve(const llmrt_call_ctx* ctx, std::uint64_t increment, std::uint64_t* seed,
                          std::uint64_t* offset) {
  PluginJobState& state = ctx != nullptr && ctx->host_private != nullptr
                              ? *static_cast<PluginJobState*>(ctx->host_private)
                              : contextless_state();
  *seed = state.rng_seed;
  if (state.replaying) {
    *offset = state.replay_offset;
    state.replay_offset += increment;
  } else {
    *offset = state.rng_offset.fetch_add(increment);
  }
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
  api.ops = plugin_ops_table();
  return api;
}

}  // namespace

const llmrt_host_api* plugin_host_api() {
  static const llmrt_host_api api = make_host_api();
  return &api;
}

void set_plugin_rng_seed(std::uint64_t seed) {
  contextless_state().rng_seed = seed;
  contextless_state().rng_offset = 0;
}

void PluginStatusDeleter::operator()(llmrt_status* status) const { status_free(status); }

Status take_plugin_status(llmrt_status* status, std::string_view context, ErrorKind kind) {
  if (status == nullptr) return Status::success();
  OwnedPluginStatus owned(status);
  return Error(kind, fmt::format("{}: {}", context, status->message));
}

std::int32_t plugin_status_code(const llmrt_status* status) { return status_code(status); }
std::string plugin_status_message(const llmrt_status* status) { return status_message(status); }

}  // namespace llmrt
