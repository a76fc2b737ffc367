/* llmrt plugin C ABI: what a plugin shared object exports and how it registers components.
 * Pure C99, the contract between the runtime and every plugin; docs/plugins.md is the guide.
 *
 * Lifecycle: the host dlopens the file (RTLD_NOW | RTLD_LOCAL), looks up the one exported
 * symbol LLMRT_PLUGIN_ENTRY_SYMBOL, calls it (it must have no side effects) and checks the
 * identity it returns: magic, struct size, ABI major/minor, pointer size, names. Only then it
 * calls identity->register_components with the host table and a registrar; the plugin calls
 * registrar->add once per component. If registration fails, nothing of the plugin stays
 * registered. The file is never unloaded.
 *
 * Rules for every struct in this ABI:
 *  - struct_size comes first and holds sizeof(T) as the writer compiled it; fields are only
 *    ever appended within a major version; never reordered, retyped or removed.
 *  - A reader touches a field only if LLMRT_HAS_FIELD says the writer knew it.
 *  - Structs that travel in arrays (llmrt_tensor, llmrt_param_spec, llmrt_state_spec,
 *    llmrt_config_key, llmrt_config_value, llmrt_action, llmrt_optimizer_param) never grow
 *    within a major once released, so an array of them has the same stride for host and plugin.
 *    (Before the first release llmrt_param_spec gained flags + reserved: 1.0 is that layout.)
 *  - Enums travel as int32_t with fixed values; no bool, no bitfields, no long.
 *  - Strings are NUL-terminated UTF-8. Strings passed into a call are borrowed for the call.
 *  - Function tables are static data of the plugin; NULL in an optional slot means "use the
 *    default" (documented per slot); NULL in a required slot makes the host refuse the plugin.
 *    At registration the host copies each table into a zero-filled table of its own size
 *    (min(struct_size, host's size) bytes) and only ever calls through that copy: a slot an
 *    older plugin's table lacks reads as NULL, and slots a newer plugin appended are unused.
 *  - Compute entry points (forward, backward_input, backward_weight, optimizer step) take one
 *    size-prefixed argument struct, so they gain arguments by appending fields.
 *  - No C++ exception, type or allocation crosses the boundary; errors are llmrt_status
 *    objects created through the host table. */
#ifndef LLMRT_PLUGIN_H_
#define LLMRT_PLUGIN_H_

#include "llmrt/plugin_components.h"
#include "llmrt/plugin_ops.h"
#include "llmrt/plugin_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum llmrt_component_kind {
  LLMRT_KIND_LAYER = 1,
  LLMRT_KIND_OPTIMIZER = 2,
  LLMRT_KIND_LR_SCHEDULE = 3,
  LLMRT_KIND_PIPELINE_SCHEDULE = 4
} llmrt_component_kind;

/* One component. The host copies names, doc, keys and the function table during add (the
 * functions themselves stay in the library, which is never unloaded). */
typedef struct llmrt_component_desc {
  size_t struct_size;
  int32_t kind; /* llmrt_component_kind */
  int32_t reserved;
  const char* name;    /* unique across all plugins: "gpt.block", "acme.swiglu" */
  const char* version; /* the component's own version, recorded in checkpoints: "1.2.0" */
  const char* doc;     /* one line; may be NULL */
  const llmrt_config_key* keys; /* the config keys it accepts */
  size_t key_count;
  const void* vtable; /* the llmrt_<kind>_vtable matching `kind` */
} llmrt_component_desc;

typedef struct llmrt_registrar llmrt_registrar;
struct llmrt_registrar {
  size_t struct_size;
  /* Adds a component; returns an error (which the plugin should return from registration)
   * for a duplicate name, a NULL required slot or a malformed key. */
  llmrt_status* (*add)(llmrt_registrar* registrar, const llmrt_component_desc* component);
  void* host_private;
};

/* The plugin's identity, returned by the entry symbol; static data of the plugin. Checked
 * field by field before anything of the plugin runs (like PostgreSQL's magic block). */
typedef struct llmrt_plugin_identity {
  uint32_t magic;          /* LLMRT_PLUGIN_MAGIC */
  uint32_t struct_size;    /* sizeof(llmrt_plugin_identity) as the plugin compiled it */
  uint16_t abi_major;      /* LLMRT_ABI_MAJOR of the header it was built with */
  uint16_t abi_minor;      /* LLMRT_ABI_MINOR of that header */
  uint16_t min_host_minor; /* oldest host minor that has every service/field the plugin uses */
  uint16_t pointer_size;   /* sizeof(void*) */
  const char* name;        /* the plugin (a file may hold several components): "acme-mlp" */
  const char* version;     /* the plugin's version: "0.3.1" */
  const char* build_id;    /* changes with every build (hash, date); compared across ranks */
  llmrt_status* (*register_components)(const llmrt_host_api* host, llmrt_registrar* registrar);
} llmrt_plugin_identity;

/* The oldest host minor a plugin needs: define it before including this header when the plugin
 * uses something a later minor added (1: the op table, llmrt_host_api.ops, or the optimizer's
 * parameter table), so an older host refuses the file at load instead of failing at a call. */
#ifndef LLMRT_PLUGIN_MIN_HOST_MINOR
#define LLMRT_PLUGIN_MIN_HOST_MINOR 0
#endif

/* Initialiser for the identity of a plugin built with this header. */
#define LLMRT_PLUGIN_IDENTITY_INIT(NAME, VERSION, BUILD_ID, REGISTER_FN)                          \
  { LLMRT_PLUGIN_MAGIC, (uint32_t)sizeof(llmrt_plugin_identity), LLMRT_ABI_MAJOR, LLMRT_ABI_MINOR, \
    (uint16_t)(LLMRT_PLUGIN_MIN_HOST_MINOR), (uint16_t)sizeof(void*), (NAME), (VERSION), (BUILD_ID), (REGISTER_FN) }

/* The exported entry symbol of ABI major 1; a major-2 plugin would export ..._v2. */
#define LLMRT_PLUGIN_ENTRY_SYMBOL "llmrt_plugin_entry_v1"
typedef const llmrt_plugin_identity* (*llmrt_plugin_entry_fn)(void);

/* A plugin defines exactly this function (and exports nothing else). */
LLMRT_PLUGIN_EXPORT const llmrt_plugin_identity* llmrt_plugin_entry_v1(void);

/* A default build id when the build gives none: changes with every compilation. */
#ifndef LLMRT_PLUGIN_BUILD_ID
#define LLMRT_PLUGIN_BUILD_ID __DATE__ " " __TIME__
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LLMRT_PLUGIN_H_ */
