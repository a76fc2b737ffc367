/* A working layer in plain C99, "c.scale": y = x * w over the channels. Built several ways
 * (tests/plugin/CMakeLists.txt): against today's headers with no supports() (a CPU-only layer),
 * against the frozen v1.0 headers (fixtures/abi_v1_0: what a plugin built today keeps loading
 * and training as later minors append fields), and as the ABI-evolution variants below.
 *   FAULT_SHORT_VTABLE:  struct_size stops after backward_weight, as a table of an older minor;
 *                        the slots behind it hold functions that fail loudly, so a host that
 *                        reads past struct_size is caught.
 *   FAULT_LONGER_VTABLE: a table of a future minor (abi_minor + 3, min_host_minor 0) with two
 *                        slots this host does not know; it must load and run. */
#include <llmrt/plugin.h>

#include <stdlib.h>
#include <string.h>

#ifndef LAYER_NAME
#define LAYER_NAME "c.scale"
#endif

static const llmrt_host_api* g_host;

typedef struct scale_layer {
  int64_t channels; /* C */
} scale_layer;

static int64_t numel_of(const llmrt_tensor* t) {
  int64_t n = 1;
  int32_t d;
  for (d = 0; d < t->rank; ++d) n *= t->shape[d];
  return n;
}

static llmrt_status* fail(const char* message) { return g_host->status_new(LLMRT_INTERNAL, message); }

static llmrt_status* scale_create(const llmrt_host_api* host, const llmrt_config* config,
                                  const llmrt_layer_context* context, void** instance) {
  size_t i;
  scale_layer* layer;
  (void)context;
  for (i = 0; i < config->count; ++i) {
    if (strcmp(config->values[i].name, "d_model") != 0) continue;
    if (config->values[i].integer <= 0) return host->status_new(LLMRT_INVALID_ARGUMENT, "d_model must be positive");
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
    return g_host->status_new(LLMRT_INVALID_ARGUMENT, "c.scale takes one (B, T, d_model) activation");
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
    out[0].init_scale = 0.0;
    out[0].tie_name = NULL;
  }
  *count = 1;
  return NULL;
}

static llmrt_status* scale_forward(void* instance, const llmrt_call_ctx* ctx, const llmrt_forward_args* args) {
  const scale_layer* layer = (const scale_layer*)instance;
  const float* x;
  const float* w;
  float* y;
  int64_t i, n;
  (void)ctx;
  if (args->in_count != 1 || args->param_count != 1 || args->out_count != 1) return fail("c.scale: tensor counts");
  x = (const float*)args->in[0].data;
  w = (const float*)args->params[0].data;
  y = (float*)args->out[0].data;
  n = numel_of(&args->in[0]);
  for (i = 0; i < n; ++i) y[i] = x[i] * w[i % layer->channels];
  return NULL;
}

/* grad_x = grad_y * w (written) */
static llmrt_status* scale_backward_input(void* instance, const llmrt_call_ctx* ctx,
                                          const llmrt_backward_input_args* args) {
  const scale_layer* layer = (const scale_layer*)instance;
  const float* gy;
  const float* w;
  float* gx;
  int64_t i, n;
  (void)ctx;
  if (args->grad_in_count == 0) return NULL;
  gy = (const float*)args->grad_out[0].data;
  w = (const float*)args->params[0].data;
  gx = (float*)args->grad_in[0].data;
  n = numel_of(&args->grad_out[0]);
  for (i = 0; i < n; ++i) gx[i] = gy[i] * w[i % layer->channels];
  return NULL;
}

/* grad_w += sum over rows of grad_y * x */
static llmrt_status* scale_backward_weight(void* instance, const llmrt_call_ctx* ctx,
                                           const llmrt_backward_weight_args* args) {
  const scale_layer* layer = (const scale_layer*)instance;
  const float* gy;
  const float* x;
  float* gw;
  int64_t i, n;
  (void)ctx;
  if (args->grad_param_count != 1) return fail("c.scale: expected one parameter gradient");
  gy = (const float*)args->grad_out[0].data;
  x = (const float*)args->in[0].data;
  gw = (float*)args->grad_params[0].data;
  n = numel_of(&args->grad_out[0]);
  for (i = 0; i < n; ++i) gw[i % layer->channels] += gy[i] * x[i];
  return NULL;
}

static const llmrt_config_key scale_keys[] = {
    {sizeof(llmrt_config_key), "d_model", LLMRT_KEY_INT, 0, NULL, "channels C (filled from the model)"}};

#if defined(FAULT_SHORT_VTABLE) || defined(FAULT_LONGER_VTABLE)
static llmrt_status* poison_hints(void* instance, int64_t batch, int64_t seq, llmrt_cost_hints* out) {
  (void)instance; (void)batch; (void)seq; (void)out;
  return fail("cost_hints was read past the table's struct_size");
}
static llmrt_status* poison_saved(void* instance, int64_t batch, int64_t seq, size_t* bytes) {
  (void)instance; (void)batch; (void)seq; (void)bytes;
  return fail("saved_bytes was read past the table's struct_size");
}
#endif

#if defined(FAULT_SHORT_VTABLE)
static llmrt_status* poison_supports(void* instance, llmrt_device device, int32_t dtype) {
  (void)instance; (void)device; (void)dtype;
  return fail("supports was read past the table's struct_size");
}
#endif

/* Designated initializers: slots a later header appends stay NULL without a warning. */
#define SCALE_SLOTS                                                                                    \
  .create = scale_create, .destroy = scale_destroy, .infer_shapes = scale_infer,                       \
  .param_specs = scale_params, .forward = scale_forward, .backward_input = scale_backward_input,       \
  .backward_weight = scale_backward_weight

#if defined(FAULT_SHORT_VTABLE)
/* What an older minor's table looks like: nothing after backward_weight (the poison behind it is
 * only there to be caught if the host reads it). */
static const llmrt_layer_vtable scale_table = {.struct_size = LLMRT_STRUCT_SIZE(llmrt_layer_vtable, backward_weight),
                                               SCALE_SLOTS, .cost_hints = poison_hints,
                                               .saved_bytes = poison_saved, .supports = poison_supports};
#define SCALE_TABLE (&scale_table)
#elif defined(FAULT_LONGER_VTABLE)
/* A future minor's table: this host's slots, then two it does not know about. */
typedef struct future_layer_vtable {
  llmrt_layer_vtable known;
  llmrt_status* (*future_hints)(void* instance, int64_t batch, int64_t seq, llmrt_cost_hints* out);
  llmrt_status* (*future_saved)(void* instance, int64_t batch, int64_t seq, size_t* bytes);
} future_layer_vtable;
static const future_layer_vtable scale_table = {.known = {.struct_size = sizeof(future_layer_vtable), SCALE_SLOTS},
                                                .future_hints = poison_hints, .future_saved = poison_saved};
#define SCALE_TABLE (&scale_table)
#else
static const llmrt_layer_vtable scale_table = {.struct_size = sizeof(llmrt_layer_vtable), SCALE_SLOTS};
#define SCALE_TABLE (&scale_table)
#endif

static llmrt_status* register_components(const llmrt_host_api* host, llmrt_registrar* registrar) {
  llmrt_component_desc desc;
  g_host = host;
  memset(&desc, 0, sizeof(desc));
  desc.struct_size = sizeof(desc);
  desc.kind = LLMRT_KIND_LAYER;
  desc.name = LAYER_NAME;
  desc.version = "0.1.0";
  desc.doc = "y = x * w over the channels, written in C";
  desc.keys = scale_keys;
  desc.key_count = 1;
  desc.vtable = SCALE_TABLE;
  return registrar->add(registrar, &desc);
}

#if defined(FAULT_LONGER_VTABLE)
#define ID_MINOR (LLMRT_ABI_MINOR + 3)
#else
#define ID_MINOR LLMRT_ABI_MINOR
#endif

static const llmrt_plugin_identity identity = {LLMRT_PLUGIN_MAGIC, (uint32_t)sizeof(llmrt_plugin_identity),
                                               LLMRT_ABI_MAJOR, ID_MINOR, 0, (uint16_t)sizeof(void*),
                                               "c-layer", "0.1.0", "c-layer-build-1", register_components};

const llmrt_plugin_identity* llmrt_plugin_entry_v1(void) { return &identity; }
