/* llmrt plugin C ABI, part 1: the values that cross the boundary (statuses, tensors, config
 * values) and the host service table. Pure C99; see plugin.h for the rules and docs/plugins.md. */
#ifndef LLMRT_PLUGIN_TYPES_H_
#define LLMRT_PLUGIN_TYPES_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version of this header. Same major: loads. A plugin built with a newer minor loads into
 * an older host only when its identity's min_host_minor <= the host's minor. */
#define LLMRT_ABI_MAJOR 1
#define LLMRT_ABI_MINOR 3
#define LLMRT_PLUGIN_MAGIC 0x4C4C5254u /* "LLRT" */

/* Size of struct T up to and including field `last`: what a reader needs before touching it. */
#define LLMRT_STRUCT_SIZE(T, last) (offsetof(T, last) + sizeof(((T*)0)->last))
/* True when the struct at p (with a struct_size member) was built with field f. */
#define LLMRT_HAS_FIELD(p, T, f) ((p)->struct_size >= LLMRT_STRUCT_SIZE(T, f))

#if defined(_WIN32)
#define LLMRT_PLUGIN_EXPORT __declspec(dllexport)
#else
#define LLMRT_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------------------ statuses */
/* Status codes (values fixed forever). A receiver treats an unknown code as LLMRT_INTERNAL. */
typedef enum llmrt_code {
  LLMRT_OK = 0,
  LLMRT_INVALID_ARGUMENT = 3, /* bad config value, shape, dtype: the user's input */
  LLMRT_OUT_OF_RANGE = 11,
  LLMRT_UNIMPLEMENTED = 12,   /* e.g. a dtype or device the component does not support */
  LLMRT_INTERNAL = 13,        /* a bug or an unexpected failure inside the plugin */
  LLMRT_RESOURCE_EXHAUSTED = 8
} llmrt_code;

/* Opaque; created and freed only through the host table. NULL means success. Whoever receives a
 * non-NULL status from a call owns it and frees it with host->status_free. */
typedef struct llmrt_status llmrt_status;

/* ------------------------------------------------------------------------------ tensors */
typedef enum llmrt_dtype {
  LLMRT_DTYPE_F32 = 1,
  LLMRT_DTYPE_BF16 = 2,
  LLMRT_DTYPE_F16 = 3,
  LLMRT_DTYPE_I32 = 4,
  LLMRT_DTYPE_I64 = 5,
  LLMRT_DTYPE_U8 = 6
} llmrt_dtype;

typedef enum llmrt_device_type {
  LLMRT_DEVICE_CPU = 1,
  LLMRT_DEVICE_CUDA = 2
} llmrt_device_type;

typedef struct llmrt_device {
  int32_t type;  /* llmrt_device_type */
  int32_t index; /* CUDA ordinal; 0 on CPU */
} llmrt_device;

#define LLMRT_MAX_RANK 8

/* A tensor the host owns, borrowed by the plugin for one call. Shapes and strides are in
 * elements, row-major strides for a contiguous tensor; strides are always filled. Used with
 * data == NULL to describe shapes only (shape inference). */
typedef struct llmrt_tensor {
  size_t struct_size;
  int32_t dtype; /* llmrt_dtype */
  int32_t rank;  /* 0 .. LLMRT_MAX_RANK */
  int64_t shape[LLMRT_MAX_RANK];
  int64_t strides[LLMRT_MAX_RANK];
  llmrt_device device;
  void* data;
} llmrt_tensor;

/* ------------------------------------------------------------------------------ config */
/* The type of a component's config key, as written in the TOML file. */
typedef enum llmrt_key_type {
  LLMRT_KEY_BOOL = 1,
  LLMRT_KEY_INT = 2,
  LLMRT_KEY_FLOAT = 3,       /* an integer literal is accepted too */
  LLMRT_KEY_STRING = 4,
  LLMRT_KEY_FLOAT_LIST = 5,
  LLMRT_KEY_INT_LIST = 6,
  LLMRT_KEY_STRING_LIST = 7
} llmrt_key_type;

/* A key a component accepts. The host rejects keys nobody declared (with "did you mean") and
 * values of the wrong type before the component sees them. */
typedef struct llmrt_config_key {
  size_t struct_size;
  const char* name;          /* "d_model" */
  int32_t type;              /* llmrt_key_type */
  int32_t reserved;
  const char* default_value; /* a TOML literal ("768", "0.02", "true", "\"gelu\"", "[0.9, 0.95]"); NULL = required */
  const char* doc;           /* one line for `llmrt plugins info` */
} llmrt_config_key;

/* One resolved key: the user's value or the declared default, already of the declared type. */
typedef struct llmrt_config_value {
  size_t struct_size;
  const char* name;
  int32_t type; /* llmrt_key_type */
  int32_t boolean;
  int64_t integer;
  double number;               /* FLOAT */
  const char* string;          /* STRING */
  const int64_t* integers;     /* INT_LIST */
  const double* numbers;       /* FLOAT_LIST */
  const char* const* strings;  /* STRING_LIST */
  size_t count;                /* elements of a list */
} llmrt_config_value;

/* Every declared key of a component, in declaration order; borrowed for the call. */
typedef struct llmrt_config {
  size_t struct_size;
  const llmrt_config_value* values;
  size_t count;
} llmrt_config;

/* ------------------------------------------------------------------------------ host services */
typedef struct llmrt_stream llmrt_stream; /* opaque; NULL on CPU */
typedef struct llmrt_comm llmrt_comm;     /* opaque; a process group the caller belongs to */

typedef enum llmrt_log_level {
  LLMRT_LOG_DEBUG = 0, LLMRT_LOG_INFO = 1, LLMRT_LOG_WARNING = 2, LLMRT_LOG_ERROR = 3
} llmrt_log_level;

typedef enum llmrt_reduce_op { LLMRT_REDUCE_SUM = 1, LLMRT_REDUCE_MAX = 2, LLMRT_REDUCE_MIN = 3 } llmrt_reduce_op;

/* What the runtime hands every call that runs on a device. Borrowed for the call. */
typedef struct llmrt_call_ctx {
  size_t struct_size;
  llmrt_device device;
  llmrt_stream* stream;  /* NULL on CPU */
  llmrt_comm* tp_comm;   /* the layer's tensor-parallel group */
  int32_t tp_rank;
  int32_t tp_size;
  int32_t microbatch;
  int32_t reserved;
  void* host_private;    /* the host's; plugins never touch it */
} llmrt_call_ctx;

/* The op table (plugin_ops.h): compute on the call's device through the host's kernels. */
typedef struct llmrt_ops llmrt_ops;

/* Services the host gives every plugin (passed at registration and at create; lives as long as
 * the process). Not variadic anywhere: messages arrive formatted. */
typedef struct llmrt_host_api {
  size_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  uint32_t reserved;
  /* statuses */
  llmrt_status* (*status_new)(int32_t code, const char* message); /* copies message */
  int32_t (*status_code)(const llmrt_status* status);
  const char* (*status_message)(const llmrt_status* status);      /* lives as long as status */
  void (*status_free)(llmrt_status* status);                      /* NULL is fine */
  /* logging */
  void (*log)(int32_t level, const char* component, const char* message);
  /* memory: host memory is CPU-addressable; device memory belongs to `device` and `stream` */
  llmrt_status* (*host_alloc)(size_t bytes, size_t alignment, void** out);
  void (*host_free)(void* pointer);
  llmrt_status* (*device_alloc)(llmrt_device device, llmrt_stream* stream, size_t bytes, void** out);
  llmrt_status* (*device_free)(llmrt_device device, llmrt_stream* stream, void* pointer);
  llmrt_status* (*stream_synchronize)(llmrt_stream* stream);
  /* collectives on a group the caller belongs to, ordered on `stream`; counts are elements */
  llmrt_status* (*comm_info)(llmrt_comm* comm, int32_t* rank, int32_t* size);
  llmrt_status* (*all_reduce)(llmrt_comm* comm, const void* send, void* recv, size_t count,
                              int32_t dtype, int32_t op, llmrt_stream* stream);
  llmrt_status* (*all_gather)(llmrt_comm* comm, const void* send, void* recv, size_t send_count,
                              int32_t dtype, llmrt_stream* stream);
  llmrt_status* (*reduce_scatter)(llmrt_comm* comm, const void* send, void* recv, size_t recv_count,
                                  int32_t dtype, int32_t op, llmrt_stream* stream);
  llmrt_status* (*broadcast)(llmrt_comm* comm, void* buffer, size_t count, int32_t dtype,
                             int32_t root, llmrt_stream* stream);
  /* random numbers: reserves `increment` values of the run's counter-based stream for this call
   * (Philox-style seed + offset), so dropout is the same on any layout and after resume */
  llmrt_status* (*rng_reserve)(const llmrt_call_ctx* ctx, uint64_t increment, uint64_t* seed,
                               uint64_t* offset);
  /* ---- minor 1: compute through the host (#13). Read it only when
   * LLMRT_HAS_FIELD(host, llmrt_host_api, ops); never NULL in a host that has the field. */
  const llmrt_ops* ops;
  /* appended in later minors only */
} llmrt_host_api;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LLMRT_PLUGIN_TYPES_H_ */
