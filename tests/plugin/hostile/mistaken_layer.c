/* A layer "hostile.scale" (y = x * w over the channels, like misbehaving_layer.c) with one
 * mistake per build: the mistakes a plugin author makes that `check`, the parameter guard and
 * the anomaly detector must name (issue 13; docs/plugins.md "When your layer is wrong").
 * tests/plugin/CMakeLists.txt builds one .so per MISTAKE_* into <build>/tests/hostile-plugins
 * as hostile_<mistake>.so; tests/reliability/cases/plugin_mistakes.cases runs them.
 *   MISTAKE_NEG_SHAPE     param w has shape {-C}
 *   MISTAKE_SHARD_RANGE   param w (rank 1) shards dimension 3
 *   MISTAKE_SHARD_SPLIT   param w has shape {C + 1}, sharded along dimension 0 (odd: tp = 2 cannot split it)
 *   MISTAKE_TIE_SHAPES    two params tied under one name with shapes {C} and {C, 2}
 *   MISTAKE_INFER_SHAPES  infer_shapes says (B, T, C + 1) though forward writes (B, T, C)
 *   MISTAKE_WRITE_PAST    forward writes one value past the end of its w slice
 *   MISTAKE_READ_PAST     forward reads w[c + 1] for the last channel: past its slice
 *   MISTAKE_NAN_FORWARD   forward writes a NaN into its output
 *   MISTAKE_NAN_BACKWARD  backward_input writes a NaN into the input gradient
 *   MISTAKE_WRONG_BACKWARD   backward_weight gives 1.5 times the gradient of w (`llmrt plugins test`'s
 *                            gradient check names it)
 *   MISTAKE_OVERWRITE_GRAD   backward_weight writes (=) the gradient of w instead of adding (+=)
 *   MISTAKE_GRAPH_ALLOC   declares LLMRT_LAYER_GRAPH_SAFE, yet from its 2nd forward on allocates (and
 *                         frees) 64 bytes through device_alloc on every call (train.cuda_graph must name it)
 *   MISTAKE_GRAPH_RNG     declares LLMRT_LAYER_GRAPH_SAFE, yet from its 2nd forward on draws random
 *                         numbers (rng_reserve) on every call */
#include <llmrt/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static llmrt_status* scale_create(const llmrt_host_api* host, const llmrt_config* config,
                                  const llmrt_layer_context* context, void** instance) {
  size_t i;
  scale_layer* layer;
  (void)context;
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
  if (out_capacity >= 1) {
    out[0] = in[0];
#if defined(MISTAKE_INFER_SHAPES)
    out[0].shape[2] = layer->channels + 1;
    out[0].strides[1] = layer->channels + 1;
    out[0].strides[0] = in[0].shape[1] * (layer->channels + 1);
#endif
  }
  *out_count = 1;
  return NULL;
}

static void describe_w(llmrt_param_spec* spec, const char* name, int64_t channels) {
  memset(spec, 0, sizeof(*spec));
  spec->struct_size = sizeof(llmrt_param_spec);
  spec->name = name;
  spec->dtype = LLMRT_DTYPE_F32;
  spec->rank = 1;
  spec->shape[0] = channels;
  spec->init = LLMRT_INIT_ONES;
  spec->shard_dim = LLMRT_NO_SHARD;
}

/* w: (C,), ones at init (and the mistakes' variants of it) */
static llmrt_status* scale_params(void* instance, llmrt_param_spec* out, size_t capacity, size_t* count) {
  const scale_layer* layer = (const scale_layer*)instance;
#if defined(MISTAKE_TIE_SHAPES)
  if (capacity >= 2) {
    describe_w(&out[0], "w", layer->channels);
    out[0].tie_name = "hostile.shared";
    describe_w(&out[1], "w2", layer->channels);
    out[1].rank = 2;
    out[1].shape[1] = 2;
    out[1].tie_name = "hostile.shared";
  }
  *count = 2;
  return NULL;
#else
  if (capacity >= 1) {
    describe_w(&out[0], "w", layer->channels);
#if defined(MISTAKE_NEG_SHAPE)
    out[0].shape[0] = -layer->channels;
#elif defined(MISTAKE_SHARD_RANGE)
    out[0].shard_dim = 3;
#elif defined(MISTAKE_SHARD_SPLIT)
    out[0].shape[0] = layer->channels + 1;
    out[0].shard_dim = 0;
#endif
  }
  *count = 1;
  return NULL;
#endif
}

static llmrt_status* scale_forward(void* instance, const llmrt_call_ctx* ctx, const llmrt_forward_args* args) {
  const scale_layer* layer = (const scale_layer*)instance;
  const float* x = (const float*)args->in[0].data;
  float* w = (float*)args->params[0].data;
  float* y = (float*)args->out[0].data;
  int64_t i, n = numel_of(&args->in[0]);
  (void)ctx;
#if defined(MISTAKE_GRAPH_ALLOC) || defined(MISTAKE_GRAPH_RNG)
  {
    static int calls = 0; /* a fixture: one instance per process */
    if (++calls >= 2) {
#if defined(MISTAKE_GRAPH_ALLOC)
      void* scratch = NULL;
      llmrt_status* status = g_host->device_alloc(ctx->device, ctx->stream, 64, &scratch);
      if (status != NULL) return status;
      status = g_host->device_free(ctx->device, ctx->stream, scratch);
      if (status != NULL) return status;
#else
      uint64_t seed = 0, offset = 0;
      llmrt_status* status = g_host->rng_reserve(ctx, 16, &seed, &offset);
      if (status != NULL) return status;
#endif
    }
  }
#endif
  for (i = 0; i < n; ++i) {
#if defined(MISTAKE_READ_PAST)
    const int64_t c = i % layer->channels;
    y[i] = x[i] * w[c == layer->channels - 1 ? c + 1 : c]; /* the last channel reads one past its slice */
#else
    y[i] = x[i] * w[i % layer->channels];
#endif
  }
#if defined(MISTAKE_WRITE_PAST)
  w[layer->channels] = 0.5f; /* one past the end of its slice */
#elif defined(MISTAKE_NAN_FORWARD)
  y[n / 2] = (float)NAN;
#endif
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
#if defined(MISTAKE_NAN_BACKWARD)
  ((float*)args->grad_in[0].data)[n / 3] = (float)NAN;
#endif
  return NULL;
}

/* grad_w += sum over rows of grad_y * x */
static llmrt_status* scale_backward_weight(void* instance, const llmrt_call_ctx* ctx,
                                           const llmrt_backward_weight_args* args) {
  const scale_layer* layer = (const scale_layer*)instance;
  int64_t i, n = numel_of(&args->grad_out[0]);
  (void)ctx;
#if defined(MISTAKE_OVERWRITE_GRAD)
  for (i = 0; i < layer->channels; ++i) ((float*)args->grad_params[0].data)[i] = 0.f; /* = instead of += */
#endif
  for (i = 0; i < n; ++i) {
#if defined(MISTAKE_WRONG_BACKWARD)
    ((float*)args->grad_params[0].data)[i % layer->channels] +=
        1.5f * ((const float*)args->grad_out[0].data)[i] * ((const float*)args->in[0].data)[i];
#else
    ((float*)args->grad_params[0].data)[i % layer->channels] +=
        ((const float*)args->grad_out[0].data)[i] * ((const float*)args->in[0].data)[i];
#endif
  }
  return NULL;
}

static const llmrt_config_key scale_keys[] = {
    {sizeof(llmrt_config_key), "d_model", LLMRT_KEY_INT, 0, NULL, "channels C (filled from the model)"}};

static const llmrt_layer_vtable scale_table = {
    .struct_size = sizeof(llmrt_layer_vtable), .create = scale_create, .destroy = scale_destroy,
    .infer_shapes = scale_infer, .param_specs = scale_params, .forward = scale_forward,
    .backward_input = scale_backward_input, .backward_weight = scale_backward_weight,
#if defined(MISTAKE_GRAPH_ALLOC) || defined(MISTAKE_GRAPH_RNG)
    .flags = LLMRT_LAYER_GRAPH_SAFE,
#endif
};

static llmrt_status* register_components(const llmrt_host_api* host, llmrt_registrar* registrar) {
  llmrt_component_desc desc;
  g_host = host;
  memset(&desc, 0, sizeof(desc));
  desc.struct_size = sizeof(desc);
  desc.kind = LLMRT_KIND_LAYER;
  desc.name = "hostile.scale";
  desc.version = "0.1.0";
  desc.doc = "y = x * w, and one mistake (tests/plugin/hostile/mistaken_layer.c)";
  desc.keys = scale_keys;
  desc.key_count = 1;
  desc.vtable = &scale_table;
  return registrar->add(registrar, &desc);
}

static const llmrt_plugin_identity identity = {LLMRT_PLUGIN_MAGIC, (uint32_t)sizeof(llmrt_plugin_identity),
                                               LLMRT_ABI_MAJOR, LLMRT_ABI_MINOR, 0, (uint16_t)sizeof(void*),
                                               "hostile", "0.1.0", "hostile-build-1", register_components};

const llmrt_plugin_identity* llmrt_plugin_entry_v1(void) { return &identity; }
