/* A plugin in plain C99 (built with -Wpedantic -Werror: the ABI needs no C++), compiled once per
 * FAULT_* define into a hostile variant the loader must refuse with one specific message. */
#include <llmrt/plugin.h>

#include <string.h>

#ifndef COMPONENT_NAME
#define COMPONENT_NAME "c.single"
#endif

static const llmrt_host_api* g_host;

/* Pipeline schedule "c.single": one stage, each microbatch F, B, W. */
static llmrt_status* single_actions(const llmrt_config* config, const llmrt_schedule_shape* shape, int32_t rank,
                                    llmrt_action* out, size_t capacity, size_t* count) {
  size_t n = 0;
  int32_t m, k;
  (void)config;
  (void)rank;
  for (m = 0; m < shape->microbatches; ++m) {
    for (k = LLMRT_ACTION_FORWARD; k <= LLMRT_ACTION_BACKWARD_WEIGHT; ++k) {
      llmrt_action action;
      action.kind = k;
      action.microbatch = m;
      action.chunk = 0;
      action.peer_rank = -1;
      if (n < capacity) out[n] = action;
      ++n;
    }
  }
  *count = n;
  return NULL;
}

static llmrt_status* single_check(const llmrt_config* config, const llmrt_schedule_shape* shape) {
  (void)config;
  return shape->stages == 1 ? NULL : g_host->status_new(LLMRT_INVALID_ARGUMENT, "c.single needs exactly 1 stage");
}

static const llmrt_pipeline_schedule_vtable schedule_table = {sizeof(llmrt_pipeline_schedule_vtable),
                                                              single_actions, single_check};

static const llmrt_config_key schedule_keys[] = {
    {sizeof(llmrt_config_key), "lookahead", LLMRT_KEY_INT, 0, "2", "microbatches to run ahead (unused)"},
    {sizeof(llmrt_config_key), "label", LLMRT_KEY_STRING, 0, "\"plain\"", "a name for logs"}};

#if defined(FAULT_NULL_SLOT)
/* A layer whose forward slot is NULL: everything else is present. */
static llmrt_status* layer_create(const llmrt_host_api* h, const llmrt_config* c, const llmrt_layer_context* x,
                                  void** instance) {
  (void)h; (void)c; (void)x;
  *instance = NULL;
  return NULL;
}
static void layer_destroy(void* instance) { (void)instance; }
static llmrt_status* layer_infer(void* i, const llmrt_tensor* in, size_t n, llmrt_tensor* out, size_t cap,
                                 size_t* count) {
  (void)i; (void)in; (void)n; (void)out; (void)cap;
  *count = 0;
  return NULL;
}
static llmrt_status* layer_params(void* i, llmrt_param_spec* out, size_t cap, size_t* count) {
  (void)i; (void)out; (void)cap;
  *count = 0;
  return NULL;
}
static llmrt_status* layer_backward(void* i, const llmrt_call_ctx* c, const llmrt_backward_input_args* a) {
  (void)i; (void)c; (void)a;
  return NULL;
}
static const llmrt_layer_vtable broken_layer = {sizeof(llmrt_layer_vtable), LLMRT_LAYER_FUSED_BACKWARD, 0,
                                                layer_create, layer_destroy, layer_infer, layer_params,
                                                NULL /* forward */, layer_backward, NULL, NULL, NULL, NULL};
#endif

static llmrt_status* add_component(llmrt_registrar* registrar, int32_t kind, const char* name, const void* vtable) {
  llmrt_component_desc desc;
  memset(&desc, 0, sizeof(desc));
  desc.struct_size = sizeof(desc);
  desc.kind = kind;
  desc.name = name;
  desc.version = "0.1.0";
  desc.doc = "a single-stage schedule written in C";
  desc.keys = kind == LLMRT_KIND_PIPELINE_SCHEDULE ? schedule_keys : NULL;
  desc.key_count = kind == LLMRT_KIND_PIPELINE_SCHEDULE ? 2 : 0;
  desc.vtable = vtable;
  return registrar->add(registrar, &desc);
}

static llmrt_status* register_components(const llmrt_host_api* host, llmrt_registrar* registrar) {
  llmrt_status* status;
  g_host = host;
  status = add_component(registrar, LLMRT_KIND_PIPELINE_SCHEDULE, COMPONENT_NAME, &schedule_table);
  if (status != NULL) return status;
#if defined(FAULT_NULL_SLOT)
  return add_component(registrar, LLMRT_KIND_LAYER, "c.broken_layer", &broken_layer);
#elif defined(FAULT_REGISTER_ERROR)
  return host->status_new(LLMRT_INTERNAL, "cannot read the license file /etc/acme.lic");
#else
  return NULL;
#endif
}

#if defined(FAULT_WRONG_MAGIC)
#define ID_MAGIC 0xDEADBEEFu
#else
#define ID_MAGIC LLMRT_PLUGIN_MAGIC
#endif
#if defined(FAULT_SMALL_IDENTITY)
#define ID_SIZE 16u /* stops before the names and the registration function */
#else
#define ID_SIZE ((uint32_t)sizeof(llmrt_plugin_identity))
#endif
#if defined(FAULT_NEWER_MINOR_OK) || defined(FAULT_NEEDS_NEWER_HOST)
#define ID_MINOR (LLMRT_ABI_MINOR + 3)
#else
#define ID_MINOR LLMRT_ABI_MINOR
#endif
#if defined(FAULT_NEEDS_NEWER_HOST)
#define ID_MIN_HOST (LLMRT_ABI_MINOR + 2)
#else
#define ID_MIN_HOST 0
#endif
#ifndef ID_BUILD
#define ID_BUILD "c-build-1"
#endif

static const llmrt_plugin_identity identity = {ID_MAGIC, ID_SIZE, LLMRT_ABI_MAJOR, ID_MINOR, ID_MIN_HOST,
                                               (uint16_t)sizeof(void*), "c-test", "0.1.0", ID_BUILD,
                                               register_components};

#if defined(FAULT_NO_ENTRY)
LLMRT_PLUGIN_EXPORT int not_an_llmrt_plugin(void);
LLMRT_PLUGIN_EXPORT int not_an_llmrt_plugin(void) { return identity.magic != 0; }
#elif defined(FAULT_FUTURE_MAJOR)
/* What a plugin of ABI major 2 would export. */
LLMRT_PLUGIN_EXPORT const llmrt_plugin_identity* llmrt_plugin_entry_v2(void);
const llmrt_plugin_identity* llmrt_plugin_entry_v2(void) { return &identity; }
#else
const llmrt_plugin_identity* llmrt_plugin_entry_v1(void) { return &identity; }
#endif
