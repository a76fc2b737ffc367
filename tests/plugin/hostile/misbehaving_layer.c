/* A layer "hostile.scale" (y = x * w over the channels, like c_layer.c) that misbehaves in one
 * way per build, the ways a third-party plugin can take a run down without returning a status
 * (tests/plugin/CMakeLists.txt builds one .so per FAULT_* into <build>/tests/hostile-plugins;
 * tests/reliability/cases/plugins.cases runs them):
 *   FAULT_EXIT_REGISTER   exit(0) in register_components
 *   FAULT_EXIT_CREATE     exit(0) in create
 *   FAULT_EXIT_FORWARD    exit(0) in forward
 *   FAULT_SEGV_FORWARD    a write through a null pointer in forward
 *   FAULT_SEGV_CONSTRUCTOR the same in a static constructor (runs inside dlopen)
 *   FAULT_ABORT_FORWARD   abort() in forward
 *   FAULT_FPE_FORWARD     an integer division by zero in forward
 *   FAULT_HANG_FORWARD    forward never returns
 *   FAULT_SLEEP_REGISTER  register_components sleeps for an hour
 *   FAULT_NONE            none: a well-behaved layer that declares no recompute (recompute.cases)
 * The faults in forward fire on rank 0 (the launcher's OMPI_COMM_WORLD_RANK or PMI_RANK; a process
 * without one is rank 0), or on the rank HOSTILE_RANK names. */
#define _POSIX_C_SOURCE 200809L
#include <llmrt/plugin.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Each build uses some of the helpers below. */
#define MAYBE_UNUSED __attribute__((unused))

static const llmrt_host_api* g_host;

typedef struct scale_layer {
  int64_t channels; /* C */
} scale_layer;

MAYBE_UNUSED static void sleep_seconds(long seconds) {
  struct timespec duration;
  duration.tv_sec = seconds;
  duration.tv_nsec = 0;
  while (nanosleep(&duration, &duration) != 0) {
  }
}

/* A crash the compiler cannot prove and remove. */
MAYBE_UNUSED static void write_through_null(void) {
  volatile int* volatile nowhere = NULL;
  *nowhere = 42;
}

MAYBE_UNUSED static int divide_by_zero(void) {
  volatile int zero = 0;
  volatile int quotient = 1 / zero;
  raise(SIGFPE); /* hardware that does not trap on it (aarch64) still gets the signal */
  return quotient;
}

#if defined(FAULT_SEGV_CONSTRUCTOR)
__attribute__((constructor)) static void crash_while_loading(void) { write_through_null(); }
#endif

/* Whether this process is the rank the fault is for: HOSTILE_RANK (default 0) against the
 * launcher's rank variable; a process without a launcher is rank 0. */
static int fault_rank_here(void) {
  const char* wanted = getenv("HOSTILE_RANK");
  const char* mine = getenv("OMPI_COMM_WORLD_RANK");
  if (mine == NULL) mine = getenv("PMI_RANK");
  return atoi(wanted != NULL ? wanted : "0") == atoi(mine != NULL ? mine : "0");
}

static void misbehave_in_forward(void) {
  if (!fault_rank_here()) return;
#if defined(FAULT_EXIT_FORWARD)
  exit(0);
#elif defined(FAULT_SEGV_FORWARD)
  write_through_null();
#elif defined(FAULT_ABORT_FORWARD)
  abort();
#elif defined(FAULT_FPE_FORWARD)
  (void)divide_by_zero();
#elif defined(FAULT_HANG_FORWARD)
  for (;;) sleep_seconds(3600);
#endif
}

static int64_t numel_of(const llmrt_tensor* t) {
  int64_t n = 1;
  int32_t d;
  for (d = 0; d < t->rank; ++d) n *= t->shape[d];
  return n;
}

static llmrt_status* scale_create(const llmrt_host_api* host, const llmrt_config* config,
                                  const llmrt_layer_context* context, void** instance) {
  size_t i;
  scale_layer* layer;
  (void)context;
#if defined(FAULT_EXIT_CREATE)
  exit(0);
#endif
  for (i = 0; i < config->count; ++i) {
    if (strcmp(config->values[i].name, "d_model") != 0) continue;
    layer = (scale_layer*)malloc(sizeof(scale_layer));
    if (layer == NULL) return host->status_new(LLMRT_RESOURCE_EXHAUSTED, "out of memory");
    layer->channels = config->values[i].integer;
    *instance = layer;
    return NULL;
  }
  return host->status_new(LLMRT_INTERNAL, "d_model was not passed");
}

static void scale_destroy(void* instance) { free(instance); }

/* in: x (B, T, C) f32 -> out: (B, T, C) f32 */
static llmrt_status* scale_infer(void* instance, const llmrt_tensor* in, size_t in_count, llmrt_tensor* out,
                                 size_t out_capacity, size_t* out_count) {
  const scale_layer* layer = (const scale_layer*)instance;
  if (in_count != 1 || in[0].rank != 3 || in[0].shape[2] != layer->channels) {
    return g_host->status_new(LLMRT_INVALID_ARGUMENT, "hostile.scale takes one (B, T, d_model) activation");
  }
  if (out_capacity >= 1) out[0] = in[0];
  *out_count = 1;
  return NULL;
}

/* w: (C,), ones at init */
static llmrt_status* scale_params(void* instance, llmrt_param_spec* out, size_t capacity, size_t* count) {
  const scale_layer* layer = (const scale_layer*)instance;
  if (capacity >= 1) {
    memset(&out[0], 0, sizeof(out[0]));
    out[0].struct_size = sizeof(llmrt_param_spec);
    out[0].name = "w";
    out[0].dtype = LLMRT_DTYPE_F32;
    out[0].rank = 1;
    out[0].shape[0] = layer->channels;
    out[0].init = LLMRT_INIT_ONES;
    out[0].shard_dim = LLMRT_NO_SHARD;
  }
  *count = 1;
  return NULL;
}

static llmrt_status* scale_forward(void* instance, const llmrt_call_ctx* ctx, const llmrt_forward_args* args) {
  const scale_layer* layer = (const scale_layer*)instance;
  const float* x = (const float*)args->in[0].data;
  const float* w = (const float*)args->params[0].data;
  float* y = (float*)args->out[0].data;
  int64_t i, n = numel_of(&args->in[0]);
  (void)ctx;
  misbehave_in_forward();
  for (i = 0; i < n; ++i) y[i] = x[i] * w[i % layer->channels];
  return NULL;
}

/* grad_x = grad_y * w (written) */
static llmrt_status* scale_backward_input(void* instance, const llmrt_call_ctx* ctx,
                                          const llmrt_backward_input_args* args) {
  const scale_layer* layer = (const scale_layer*)instance;
  int64_t i, n;
  (void)ctx;
  if (args->grad_in_count == 0) return NULL;
  n = numel_of(&args->grad_out[0]);
  for (i = 0; i < n; ++i) {
    ((float*)args->grad_in[0].data)[i] =
        ((const float*)args->grad_out[0].data)[i] * ((const float*)args->params[0].data)[i % layer->channels];
  }
  return NULL;
}

/* grad_w += sum over rows of grad_y * x */
static llmrt_status* scale_backward_weight(void* instance, const llmrt_call_ctx* ctx,
                                           const llmrt_backward_weight_args* args) {
  const scale_layer* layer = (const scale_layer*)instance;
  int64_t i, n = numel_of(&args->grad_out[0]);
  (void)ctx;
  for (i = 0; i < n; ++i) {
    ((float*)args->grad_params[0].data)[i % layer->channels] +=
        ((const float*)args->grad_out[0].data)[i] * ((const float*)args->in[0].data)[i];
  }
  return NULL;
}

static const llmrt_config_key scale_keys[] = {
    {sizeof(llmrt_config_key), "d_model", LLMRT_KEY_INT, 0, NULL, "channels C (filled from the model)"}};

static const llmrt_layer_vtable scale_table = {
    .struct_size = sizeof(llmrt_layer_vtable), .create = scale_create, .destroy = scale_destroy,
    .infer_shapes = scale_infer, .param_specs = scale_params, .forward = scale_forward,
    .backward_input = scale_backward_input, .backward_weight = scale_backward_weight};

static llmrt_status* register_components(const llmrt_host_api* host, llmrt_registrar* registrar) {
  llmrt_component_desc desc;
#if defined(FAULT_EXIT_REGISTER)
  exit(0);
#elif defined(FAULT_SLEEP_REGISTER)
  sleep_seconds(3600);
#endif
  g_host = host;
  memset(&desc, 0, sizeof(desc));
  desc.struct_size = sizeof(desc);
  desc.kind = LLMRT_KIND_LAYER;
  desc.name = "hostile.scale";
  desc.version = "0.1.0";
  desc.doc = "y = x * w, and one misbehaviour (tests/plugin/hostile/misbehaving_layer.c)";
  desc.keys = scale_keys;
  desc.key_count = 1;
  desc.vtable = &scale_table;
  return registrar->add(registrar, &desc);
}

static const llmrt_plugin_identity identity = {LLMRT_PLUGIN_MAGIC, (uint32_t)sizeof(llmrt_plugin_identity),
                                               LLMRT_ABI_MAJOR, LLMRT_ABI_MINOR, 0, (uint16_t)sizeof(void*),
                                               "hostile", "0.1.0", "hostile-build-1", register_components};

const llmrt_plugin_identity* llmrt_plugin_entry_v1(void) { return &identity; }
