// The model's layers as plugin instances: [[model.layer]] entries expanded by `repeat`, each
// looked up in the registry, configured and created, with its parameter specs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/spec.h"
#include "plan/planner.h"
#include "plugin/component_config.h"
#include "plugin/plugin_calls.h"
#include "plugin/registry.h"
#include "topology/topology.h"
#include "util/status.h"

namespace llmrt {

// One layer of the model, created for this rank's place in the layout.
struct LayerSlot {
  int index = 0;             // position in the model, 0-based, after expanding repeat
  std::string label;         // "gpt.block[3]": component name and index, for messages and checkpoints
  const Component* component = nullptr;
  ResolvedConfig config;
  ComponentInstance instance;
  std::vector<llmrt_param_spec> params;  // names point into the instance
  // The activation recompute it runs in (exec/recompute.h): kSelective layers were created
  // with llmrt_layer_context.recompute = SELECTIVE; kFull ones are rerun by the stage.
  Recompute recompute = Recompute::kNone;
  std::string where;  // its [[model.layer]] entry: "job.toml:19:1: model.layer[1]"
};

// The expanded layer list: which entry of [[model.layer]] each model layer comes from.
struct LayerPlanEntry {
  int spec_index = 0;  // into ModelSpec::layers
  int repeat_index = 0;
};
std::vector<LayerPlanEntry> expand_layers(const ModelSpec& model);

// Keys the runtime fills when a component declares them and the config leaves them out:
// vocab_size, vocab_pad_multiple and seq_len from [model], d_model from the nearest earlier layer that sets it,
// n_layer_for_init as the number of layers of the same component.
ComponentSpec with_model_keys(const ModelSpec& model, int spec_index, const Component& component);

// Creates layers [first, last) of the model (all of them for a single rank), each in the
// recompute mode layer_recompute() gives it under `train_recompute` (exec/recompute.h); their
// parameter specs are checked for context.tp_size (exec/param_checks.h).
Result<std::vector<LayerSlot>> create_layers(const ModelSpec& model, const Registry& registry, int first, int last,
                                             const llmrt_layer_context& context,
                                             Recompute train_recompute = Recompute::kNone);

// Each layer's output shape for one microbatch of (batch, seq) tokens, walking `layers` in order
// with shapes only (no data): each output is the next layer's input. The first layer takes
// `input_shape` when given (a later pipeline stage's activation, fp32) and otherwise the token
// ids (batch, seq) i32; when `ends_model`, the last layer takes the targets (batch, seq) i32 as a
// second input. Every layer must give exactly one output. An error names the layer that refused
// its input and, past the first, the layer whose output that was. The one walk over layer
// shapes: the trainer (activation shapes between stages) and the planner (bytes sent) use it.
Result<std::vector<std::vector<std::int64_t>>> layer_output_shapes(
    const std::vector<LayerSlot>& layers, std::int64_t batch, std::int64_t seq,
    const std::optional<std::vector<std::int64_t>>& input_shape = std::nullopt, bool ends_model = true);

// Every layer's component exists, has the right kind, accepts its config and declares valid
// parameters (exec/param_checks.h); the shape walk runs down all layers for microbatches of
// `batch` sequences, and tied parameters agree in shape (for `check` and `run`).
Status check_model_components(const ModelSpec& model, const Registry& registry, std::int64_t batch = 1);

// The llmrt_dtype of activations at a training precision (llmrt_layer_context.compute_dtype);
// "auto" gives bf16, for sizing only (f16 takes the same bytes): a rank's own dtype comes from
// its device (rank_compute_dtype).
std::int32_t compute_dtype_of(Precision precision);
// The dtype a rank on `device` computes in: its device_precision (topology.h) at `precision`.
std::int32_t rank_compute_dtype(const Device& device, Precision precision);
// The device type (llmrt_device_type) a rank on `device` runs on: CPU ranks on the CPU, every
// GPU model on CUDA.
std::int32_t device_type_of(const Device& device);

// "" when the layer runs on devices of `device_type` with activations of `dtype`; otherwise
// one line naming the layer, its component, the plugin file, the device and the dtype, and the
// layer's reason. `device_label` names the device for people ("A100-80GB (CUDA)").
Result<std::string> layer_support_problem(const LayerSlot& layer, std::int32_t device_type,
                                          std::string_view device_label, std::int32_t dtype);

// Every layer of the model runs on every kind of device in the topology with activations of
// the precision each device trains at; an input error (exit code 2) naming the first that does
// not. `played_by_cpu` (a rehearsal): every device is a CPU rank computing at its device's dtype.
// Each layer is asked in the recompute mode it would run in under `train_recompute`.
Status check_layer_support(const ModelSpec& model, const Registry& registry, const Topology& topology,
                           Precision precision, bool played_by_cpu = false,
                           Recompute train_recompute = Recompute::kNone);

// The planner's view of the same question (PlanRequest::layer_support): one instance per
// [[model.layer]] entry, each answer cached per device model. Keeps references to both.
LayerSupportFn make_layer_support_fn(const ModelSpec& model, const Registry& registry, Precision precision);

// The numeric value of a component key: the config's, else the declared default (e.g. the
// optimizer's base `lr`). An input error when the component declares no such number.
Result<double> component_number(const Component& component, const ComponentSpec& spec, const std::string& key);

}  // namespace llmrt
