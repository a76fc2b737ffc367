/* llmrt plugin C ABI, part 2: the function tables of the four component kinds (layer,
 * optimizer, learning-rate schedule, pipeline schedule). Pure C99; rules in plugin.h. */
#ifndef LLMRT_PLUGIN_COMPONENTS_H_
#define LLMRT_PLUGIN_COMPONENTS_H_

#include "llmrt/action.h"
#include "llmrt/plugin_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ layer */
typedef enum llmrt_init_kind {
  LLMRT_INIT_ZEROS = 1,
  LLMRT_INIT_ONES = 2,
  LLMRT_INIT_NORMAL = 3,  /* mean 0, standard deviation init_scale */
  LLMRT_INIT_UNIFORM = 4  /* in [-init_scale, init_scale] */
} llmrt_init_kind;

#define LLMRT_NO_SHARD (-1)

/* A parameter the layer needs. The host allocates it in the stage's flat buffer, initialises,
 * checkpoints and reshards it. Shapes are global; with tp_size > 1 the layer receives the
 * slice of shard_dim that belongs to its tp_rank. */
typedef struct llmrt_param_spec {
  size_t struct_size;
  const char* name; /* "w1"; unique within the layer; lives as long as the layer instance */
  int32_t dtype;    /* llmrt_dtype */
  int32_t rank;
  int64_t shape[LLMRT_MAX_RANK];
  int32_t init;     /* llmrt_init_kind */
  int32_t shard_dim; /* dimension split across the tensor-parallel group, or LLMRT_NO_SHARD */
  double init_scale;
  /* NULL, or a name that parameters of several layers share to be one tensor (GPT's output
   * projection tied to the token embedding: both say "wte"). The host gives them one buffer on
   * one stage, and keeps copies in step across pipeline stages. Shapes must agree. */
  const char* tie_name;
  /* LLMRT_PARAM_* bits (appended before the first release: see plugin.h's rule on arrays). */
  uint32_t flags;
  uint32_t reserved; /* zero */
} llmrt_param_spec;

/* llmrt_param_spec.flags: the tensor takes no weight decay by default, as the peers treat norm
 * gains and biases (1-D tensors get it from the host whether flagged or not); a param group's
 * explicit weight_decay still applies. */
#define LLMRT_PARAM_NO_DECAY 1u
/* llmrt_param_spec.flags: dimension 0 is indexed by token id and padded past the layer's
 * vocab_size key (config vocab_pad_multiple: wte, an output projection). The host zeroes rows
 * [vocab_size, shape[0]) at init, and treats them as padding when a tensor of another padding
 * is loaded (zero rows dropped or added) and when exporting (not written). The layer must
 * declare an int key vocab_size <= shape[0]. */
#define LLMRT_PARAM_VOCAB_ROWS 2u

/* What the planner needs to place and time a layer, for one microbatch of (batch, seq). */
typedef struct llmrt_cost_hints {
  size_t struct_size;
  double forward_flops;
  double backward_input_flops;
  double backward_weight_flops;
  double activation_bytes; /* kept from forward to backward (inputs and saved state) */
  double parameter_bytes;
  /* For activation recompute (0 where a plugin leaves them): the layer's inputs for one
   * microbatch, which is what full recompute keeps; and, for a layer with
   * LLMRT_LAYER_RECOMPUTE_SELECTIVE, its activation_bytes and the extra forward FLOPs of its
   * backward under selective recompute. The same whatever mode the instance runs in. */
  double input_bytes;
  double selective_activation_bytes;
  double selective_recompute_flops;
  /* (ABI 1.2) Device scratch a pass needs beyond its saved buffer, the most over its passes
   * (0 where a plugin leaves it). Layers of one stream share it, so the host counts the maximum
   * over a rank's layers, not the sum. */
  double workspace_bytes;
} llmrt_cost_hints;

/* Activation recompute ([train].recompute, model.layer[].recompute). */
typedef enum llmrt_recompute {
  LLMRT_RECOMPUTE_NONE = 0,      /* forward saves what backward needs */
  LLMRT_RECOMPUTE_SELECTIVE = 1, /* the layer keeps less and recomputes the cheap rest in backward */
  LLMRT_RECOMPUTE_FULL = 2       /* the host keeps only the inputs and runs forward again before backward */
} llmrt_recompute;

/* The layer's view of its place in the parallel layout, given at create. */
typedef struct llmrt_layer_context {
  size_t struct_size;
  int32_t tp_rank;
  int32_t tp_size;
  int32_t compute_dtype; /* llmrt_dtype of activations: f32, bf16 or f16 */
  int32_t layer_index;   /* position in the model, 0-based */
  /* llmrt_recompute asked of this instance, NONE or SELECTIVE (only of a layer
   * that declares LLMRT_LAYER_RECOMPUTE_SELECTIVE). FULL is the host's work: the layer is
   * created with NONE and its forward is called again. */
  int32_t recompute;
} llmrt_layer_context;

/* backward_input also accumulates the weight gradients; backward_weight may then be NULL. */
#define LLMRT_LAYER_FUSED_BACKWARD 1u
/* forward may run again for a microbatch it has run: from the same inputs, parameters and call
 * context it writes the same outputs and saved state (no hidden state, the same RNG draws), so
 * the host may drop the saved state after forward and rerun forward before backward (full
 * recompute). A layer without the flag keeps its saved state under any recompute mode. */
#define LLMRT_LAYER_RECOMPUTE_FULL 2u
/* created with llmrt_layer_context.recompute = LLMRT_RECOMPUTE_SELECTIVE, the layer asks for
 * fewer saved_bytes and its backward recomputes the rest (gradients unchanged). */
#define LLMRT_LAYER_RECOMPUTE_SELECTIVE 4u
/* (ABI 1.3) the passes may be captured in a CUDA graph and replayed (train.cuda_graph): after
 * the first call at a shape, forward, backward_input and backward_weight allocate and free
 * nothing (no device_alloc/device_free, no cudaMalloc/cudaFree), call no synchronising API
 * (stream_synchronize, cudaStreamSynchronize, cudaMemcpy without Async), read nothing back to
 * the host and draw no random numbers (rng_reserve): a replay repeats the recorded device work
 * on the recorded addresses, and nothing the host did during the first call happens again. */
#define LLMRT_LAYER_GRAPH_SAFE 8u

/* The arguments of the compute entry points, one struct per call so that a later minor can
 * append fields (a plugin reads an appended field only when LLMRT_HAS_FIELD says the host wrote
 * it). The host fills struct_size; every pointer and tensor is borrowed for the call.
 * Tensors follow the order of infer_shapes' inputs and of param_specs. `saved` is the
 * microbatch's saved-state buffer of saved_bytes(batch, seq) bytes (NULL when that is 0). */
typedef struct llmrt_forward_args {
  size_t struct_size;
  const llmrt_tensor* in;
  size_t in_count;
  const llmrt_tensor* params;
  size_t param_count;
  llmrt_tensor* out; /* written */
  size_t out_count;
  void* saved;       /* written, read again by the backward passes of the same microbatch */
  size_t saved_bytes;
} llmrt_forward_args;

typedef struct llmrt_backward_input_args {
  size_t struct_size;
  const llmrt_tensor* grad_out; /* gradient w.r.t. each output */
  size_t grad_out_count;
  const llmrt_tensor* in;
  size_t in_count;
  const llmrt_tensor* params;
  size_t param_count;
  void* saved;
  size_t saved_bytes;
  llmrt_tensor* grad_in;        /* written (=); none for inputs without a gradient (token ids) */
  size_t grad_in_count;
  llmrt_tensor* grad_params;    /* accumulated (+=), by fused layers only */
  size_t grad_param_count;
} llmrt_backward_input_args;

typedef struct llmrt_backward_weight_args {
  size_t struct_size;
  const llmrt_tensor* grad_out;
  size_t grad_out_count;
  const llmrt_tensor* in;
  size_t in_count;
  const llmrt_tensor* params;
  size_t param_count;
  void* saved;
  size_t saved_bytes;
  llmrt_tensor* grad_params;    /* accumulated (+=) */
  size_t grad_param_count;
} llmrt_backward_weight_args;

/* Inputs are a list (token ids as i32, or activations, or activations plus targets for a head);
 * outputs are activations, or a scalar loss. Saved state is per microbatch and owned by the
 * host: the layer says how many bytes it wants for (batch, seq) and gets that buffer in forward
 * and again in the backward passes of the same microbatch. Gradient outputs are accumulated
 * into (+=) for parameters and written (=) for inputs.
 * The host copies this table at registration into a zero-filled table of its own size, so a
 * slot the plugin's (older, shorter) table lacks reads as NULL: its default. */
typedef struct llmrt_layer_vtable {
  size_t struct_size;
  uint32_t flags; /* LLMRT_LAYER_* */
  uint32_t reserved;
  /* required */
  llmrt_status* (*create)(const llmrt_host_api* host, const llmrt_config* config,
                          const llmrt_layer_context* context, void** instance);
  void (*destroy)(void* instance);
  /* in: shapes and dtypes (data NULL); writes up to out_capacity shapes, sets *out_count (a
   * call with out_capacity 0 asks for the count) */
  llmrt_status* (*infer_shapes)(void* instance, const llmrt_tensor* in, size_t in_count,
                                llmrt_tensor* out, size_t out_capacity, size_t* out_count);
  /* same count-then-fill protocol */
  llmrt_status* (*param_specs)(void* instance, llmrt_param_spec* out, size_t capacity, size_t* count);
  llmrt_status* (*forward)(void* instance, const llmrt_call_ctx* ctx, const llmrt_forward_args* args);
  llmrt_status* (*backward_input)(void* instance, const llmrt_call_ctx* ctx,
                                  const llmrt_backward_input_args* args);
  /* required unless flags has LLMRT_LAYER_FUSED_BACKWARD */
  llmrt_status* (*backward_weight)(void* instance, const llmrt_call_ctx* ctx,
                                   const llmrt_backward_weight_args* args);
  /* optional: NULL means all zeros / no saved state */
  llmrt_status* (*cost_hints)(void* instance, int64_t batch, int64_t seq, llmrt_cost_hints* out);
  llmrt_status* (*saved_bytes)(void* instance, int64_t batch, int64_t seq, size_t* bytes);
  /* optional: can this instance run on devices like `device` (its type; index is a hint) with
   * activations of `dtype` (llmrt_layer_context.compute_dtype)? NULL status: yes. An
   * LLMRT_UNIMPLEMENTED status: no, and its message says why ("no CUDA kernels yet"); the host
   * refuses the layout at `llmrt check` and `llmrt plan`, naming the plugin. Any other code is
   * a failure of the query. NULL slot: CPU with f32 activations only. */
  llmrt_status* (*supports)(void* instance, llmrt_device device, int32_t dtype);
} llmrt_layer_vtable;

/* ------------------------------------------------------------------------------ optimizer */
/* A per-parameter state buffer (e.g. Adam's m and v): as many elements as the parameters,
 * allocated, initialised to init_value and checkpointed by the host. */
typedef struct llmrt_state_spec {
  size_t struct_size;
  const char* name; /* "m"; lives as long as the optimizer instance */
  int32_t dtype;    /* llmrt_dtype */
  int32_t reserved;
  double init_value;
} llmrt_state_spec;

/* ---- the optimizer's parameter table (ABI 1.1, issue 13): one block, appended ---- */
/* One tensor (or the part of it) that an optimizer step updates. A step's params, grads and
 * states are flat; the table says which elements belong to which tensor. Under ZeRO-1
 * (parallel.zero = 1) a call holds this rank's pieces of the buckets: a piece may cover only
 * part of a tensor (tensor_offset, count), and the table lists every tensor it touches. Elements
 * of the flat buffers that no entry covers (canary gaps under train.guard_params) are not the
 * optimizer's: it leaves them alone. Travels in an array: never grows within a major (the
 * reserved fields are for that). */
typedef struct llmrt_optimizer_param {
  size_t struct_size;
  const char* name;      /* as checkpoints name it: "gpt.block[3].qkv_w", or the tie name ("wte") */
  const char* tie_name;  /* NULL, or the tie name the layers declared (then equal to name) */
  int32_t layer_index;   /* the model layer that declared it (the first on this stage, for a tie) */
  int32_t rank;
  int64_t shape[LLMRT_MAX_RANK]; /* this tensor-parallel rank's slice of it (row-major) */
  int32_t shard_dim;     /* the dimension split across tp, or LLMRT_NO_SHARD */
  uint32_t flags;        /* LLMRT_PARAM_NO_DECAY: 1-D, or flagged by its layer */
  int64_t numel;         /* elements of the local slice */
  int64_t tensor_offset; /* first element of the slice (row-major) this call covers */
  int64_t count;         /* elements this call covers: numel unless ZeRO-1 split it */
  int64_t buffer_offset; /* where they lie in the call's params, grads and every state */
  double lr_scale;       /* the param group's multiplier: these elements step at lr * lr_scale */
  double weight_decay;   /* resolved: the group's, else 0 for NO_DECAY, else the optimizer's weight_decay */
  int32_t group;         /* index into [[train.param_group]], or -1 */
  int32_t reserved0;
  int64_t reserved[4];
} llmrt_optimizer_param;

/* llmrt_optimizer_vtable.flags */
/* The step needs whole tensors (a factored second moment, an orthogonalised update): every table
 * entry has count == numel. The host refuses parallel.zero = 1 for it (exit 2), which would hand
 * it pieces. */
#define LLMRT_OPTIMIZER_WHOLE_TENSORS 1u
/* The step applies each entry's lr_scale and weight_decay. Without it the host refuses a config
 * with [[train.param_group]] (the groups would be silently ignored). */
#define LLMRT_OPTIMIZER_PARAM_GROUPS 2u
/* ---- end of the parameter table block ---- */

/* One optimizer step over flat buffers (see llmrt_forward_args for the rules). params, grads:
 * 1-D tensors of n elements; states[i]: n elements, the i-th state spec. */
typedef struct llmrt_optimizer_step_args {
  size_t struct_size;
  llmrt_tensor* params;      /* updated in place */
  const llmrt_tensor* grads;
  llmrt_tensor* states;      /* updated in place */
  size_t state_count;
  double lr;
  int64_t step;              /* counts from 1 */
  /* ABI 1.1: the tensors in the call's buffers, in flat order (read when LLMRT_HAS_FIELD). */
  const llmrt_optimizer_param* param_table;
  size_t param_count;
} llmrt_optimizer_step_args;

typedef struct llmrt_optimizer_vtable {
  size_t struct_size;
  /* required */
  llmrt_status* (*create)(const llmrt_host_api* host, const llmrt_config* config, void** instance);
  void (*destroy)(void* instance);
  llmrt_status* (*step)(void* instance, const llmrt_call_ctx* ctx, const llmrt_optimizer_step_args* args);
  /* optional: NULL means no state; count-then-fill */
  llmrt_status* (*state_specs)(void* instance, llmrt_state_spec* out, size_t capacity, size_t* count);
  /* ABI 1.1: LLMRT_OPTIMIZER_* bits (0 in an older plugin's table: flat, no groups). */
  uint32_t flags;
  uint32_t reserved;
} llmrt_optimizer_vtable;

/* ------------------------------------------------------------------------------ lr schedule */
typedef struct llmrt_lr_schedule_vtable {
  size_t struct_size;
  /* required */
  llmrt_status* (*create)(const llmrt_host_api* host, const llmrt_config* config, void** instance);
  void (*destroy)(void* instance);
  /* the learning rate for optimizer step `step` (from 1) of `total_steps` */
  llmrt_status* (*lr_at)(void* instance, int64_t step, int64_t total_steps, double base_lr, double* lr);
  /* optional: NULL means stateless; the host checkpoints the bytes */
  llmrt_status* (*state_bytes)(void* instance, size_t* bytes);
  llmrt_status* (*save_state)(void* instance, void* buffer, size_t bytes);
  llmrt_status* (*load_state)(void* instance, const void* buffer, size_t bytes);
} llmrt_lr_schedule_vtable;

/* ------------------------------------------------------------------------------ pipeline schedule */
typedef struct llmrt_schedule_shape {
  size_t struct_size;
  int32_t stages;         /* pipeline ranks */
  int32_t microbatches;   /* per optimizer step */
  int32_t virtual_stages; /* model chunks per rank (1 unless interleaved) */
  int32_t reserved;
} llmrt_schedule_shape;

/* Data only: the schedule says what each rank does; the runtime verifies and runs it. */
typedef struct llmrt_pipeline_schedule_vtable {
  size_t struct_size;
  /* required: rank's actions; writes up to capacity and sets *count to the full length (a call
   * with capacity 0 asks for the length) */
  llmrt_status* (*actions)(const llmrt_config* config, const llmrt_schedule_shape* shape,
                           int32_t rank, llmrt_action* out, size_t capacity, size_t* count);
  /* optional: NULL means every shape works; otherwise an LLMRT_INVALID_ARGUMENT status whose
   * message is the reason ("interleaving needs microbatches divisible by stages") */
  llmrt_status* (*check_shape)(const llmrt_config* config, const llmrt_schedule_shape* shape);
} llmrt_pipeline_schedule_vtable;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LLMRT_PLUGIN_COMPONENTS_H_ */
