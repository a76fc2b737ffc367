// The typed config: one struct per section of the TOML file. Each module receives its own
// section's struct, never the whole file. Every key is documented in docs/config.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace llmrt {

// Where a value came from, for error messages: "configs/x.toml:12:5" and "cluster.node[1].gpus.model".
// `file` is "--set" for a command-line override; line/column are 0 when unknown.
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key_path;

  // "file:line:column: key.path" (or without line:column when unknown)
  std::string describe() const;
};

// A value with the place it was written, for checks made after reading (catalog, topology, plugins).
template <typename T>
struct Located {
  T value{};
  SourcePos pos;
};

// ---------------------------------------------------------------------------------- [cluster]
enum class LinkKind { kNvlink, kPcie };
enum class NetworkKind { kEthernet, kInfiniband };

struct LinkSpec {
  LinkKind kind = LinkKind::kPcie;
  Located<std::vector<int>> gpus;        // local device indices joined by this link ("0-7", "0,2", [0, 1])
  std::optional<double> bandwidth_gbps;  // per direction, Gbit/s; from the catalog when absent
  std::optional<double> latency_us;
  SourcePos pos;                         // the link's table
};

// `count` GPUs of one model; a node lists one group or several (a box with mixed cards).
struct GpuGroupSpec {
  Located<std::string> model;
  int count = 0;
  double compute_efficiency = 0;  // achieved ÷ peak FLOP/s of these cards; 0 = [plan].compute_efficiency
};

struct NodeSpec {
  std::string name;                      // the host name mpirun sees
  // Either GPUs (local indices follow the groups' order) ...
  std::vector<GpuGroupSpec> gpus;
  // ... or CPU ranks.
  int cpu_ranks = 0;
  int cpu_threads_per_rank = 1;
  std::vector<LinkSpec> links;
  SourcePos pos;

  bool is_cpu() const { return cpu_ranks > 0; }
  int gpu_count() const {
    int count = 0;
    for (const GpuGroupSpec& group : gpus) count += group.count;
    return count;
  }
  int device_count() const { return is_cpu() ? cpu_ranks : gpu_count(); }
};

struct NetworkSpec {
  NetworkKind kind = NetworkKind::kEthernet;
  double bandwidth_gbps = 10.0;  // per node, per direction, Gbit/s
  double latency_us = 50.0;
};

// Peak dense throughput in TFLOP/s per precision; 0 where unsupported.
struct PeakTflops {
  double fp32 = 0, tf32 = 0, fp16 = 0, bf16 = 0;
};

// A card the built-in catalog lacks, or an override of a catalog entry.
struct DeviceModelSpec {
  std::string name;
  double memory_gib = 0;
  PeakTflops peak_tflops;
  double memory_bandwidth_gbps = 0;  // Gbit/s
  double tdp_w = 0;
  double nvlink_bandwidth_gbps = 0;  // per direction per device, Gbit/s; 0 = no NVLink
  double pcie_bandwidth_gbps = 256;  // per direction, Gbit/s (PCIe 4.0 x16)
  SourcePos pos;
};

struct ClusterSpec {
  std::string name = "cluster";
  double power_overhead_w_per_node = 300;
  double price_per_kwh = 0;  // currency units per kWh; 0 = no cost estimate
  std::string currency;      // the price's unit as printed after a cost ("EUR"); "" = none
  std::vector<NodeSpec> nodes;
  NetworkSpec network;
  std::vector<DeviceModelSpec> device_models;
  SourcePos pos;
};

// ---------------------------------------------------------------------------------- [model]
// A component's own keys (a layer's d_model, an optimizer's lr): passed to its plugin, which
// declares and checks them. Values keep their TOML type and where they were written.
using ParamValue = std::variant<bool, std::int64_t, double, std::string, std::vector<double>,
                                std::vector<std::int64_t>, std::vector<std::string>>;
struct ComponentSpec {
  Located<std::string> component;  // the registered component name, e.g. "gpt.block"
  std::map<std::string, Located<ParamValue>> params;
  SourcePos pos;
};

// Activation recompute ([train].recompute, model.layer[].recompute; docs/config.md): kAuto lets
// the planner choose (none unless a layout fits or runs faster only with it).
enum class Recompute { kNone, kSelective, kFull, kAuto };
std::string_view recompute_name(Recompute recompute);  // "none", "selective", "full", "auto"

struct LayerSpec : ComponentSpec {
  int repeat = 1;
  // This layer's own recompute mode (not "auto"), overriding [train].recompute; nullopt = that.
  Located<std::optional<Recompute>> recompute;
};

struct ModelSpec {
  std::string name = "gpt";
  Located<std::int64_t> seq_len;
  Located<std::int64_t> vocab_size;
  // The GPT layers' wte / lm_head_w rows are vocab_size rounded up to a multiple of this (llm.c's
  // 50257 -> 50304, Megatron's --make-vocab-size-divisible-by); 1 = no padding. Ids stay below
  // vocab_size; the loss is over the first vocab_size logits.
  Located<std::int64_t> vocab_pad_multiple{1, {}};
  std::vector<std::string> plugin_paths;  // resolved relative to the file that names them
  std::vector<LayerSpec> layers;
  // init_from: start from these weights (an llmrt model file or GPT-2 safetensors) instead of
  // the seeded init; resolved against the config file, "" = off (runtime/infer/model_files.h).
  Located<std::string> init_from;
  SourcePos pos;

  // vocab_size rounded up to vocab_pad_multiple: the rows of the padded vocabulary tensors.
  std::int64_t padded_vocab() const {
    const std::int64_t multiple = vocab_pad_multiple.value > 0 ? vocab_pad_multiple.value : 1;
    return (vocab_size.value + multiple - 1) / multiple * multiple;
  }
};

// ", vocab 50257 padded to 50304" for the run and plan headers; "" when nothing is padded.
std::string vocab_padding_note(const ModelSpec& model);

// ---------------------------------------------------------------------------------- [parallel]
// A parallel degree fixed by the user, or "auto" (nullopt) for the planner to choose.
using AutoInt = std::optional<int>;

struct ParallelSpec {
  Located<AutoInt> pp, tp, dp;
  std::string schedule = "1f1b";
  int virtual_stages = 1;
  int microbatch_size = 1;
  Located<std::optional<std::vector<int>>> stage_layers;  // nullopt = "auto"
  // ZeRO stage: 0 = every dp rank keeps the whole optimizer state, 1 = each keeps its 1/dp slice
  // (and the fp32 master weights of it); nullopt = "auto", the planner's choice.
  Located<AutoInt> zero;
  // ZeRO-1: each bucket's all-gather of the updated weights runs non-blocking, waited for just
  // before its layer's first forward of the next step (false: all of them before the step ends).
  bool zero_overlap = true;
};

// ---------------------------------------------------------------------------------- [train]
// kAuto: each device trains at the best its card has — bf16, else fp16 (with loss scaling),
// else fp32 (topology/topology.h device_precision); a mixed room runs several at once.
enum class Precision { kFp32, kBf16, kFp16, kAuto };
std::string_view precision_name(Precision precision);  // "fp32", "bf16", "fp16", "auto"

// One [[train.param_group]]: the parameters it takes (names matching a pattern, and/or of a
// tensor rank) and what it sets for them (exec/param_groups.h resolves it).
struct ParamGroupSpec {
  std::vector<std::string> match;  // glob patterns on checkpoint names (* and ?); empty = any name
  int ndim = 0;                    // tensor rank the parameter must have; 0 = any
  std::optional<double> lr_scale;
  std::optional<double> weight_decay;
  SourcePos pos;                   // the group's table: "train.param_group[1]"
};

struct TrainSpec {
  std::int64_t steps = 1000;
  Located<std::int64_t> global_batch;  // sequences per optimizer step
  Precision precision = Precision::kFp32;
  // fp16's dynamic loss scale: the first scale, and the clean steps after which it doubles.
  double loss_scale_init = 65536;
  std::int64_t loss_scale_window = 1000;
  bool loss_scale_written = false;     // a loss-scale key was written (config or --set)
  SourcePos loss_scale_pos;            // where the first one was
  double grad_clip = 1.0;              // global-norm clip; 0 disables
  std::uint64_t seed = 1337;
  double timeout_s = 300;
  ComponentSpec optimizer;
  ComponentSpec lr_schedule;
  Located<Recompute> recompute{Recompute::kAuto, {}};  // layers without their own mode
  // Debugging a plugin (docs/plugins.md "When your layer is wrong"): check every layer call's
  // outputs for NaN/Inf, and lay parameters out with canary gaps checked after each call.
  bool detect_anomaly = false;
  bool guard_params = false;  // implies detect_anomaly
  // The step's forward and backward captured in a CUDA graph after a warm-up step and replayed
  // (exec/step_graph.h); refused where it cannot apply (job/job_checks.h check_cuda_graph).
  Located<bool> cuda_graph{false, {}};
  std::vector<ParamGroupSpec> param_groups;
};

// ---------------------------------------------------------------------------------- [data]
// Located keys have an empty pos when not written, so that later checks can tell a key the user
// wrote from its default.
struct DataSpec {
  std::string train;  // llm.c token shards (glob); "" = random tokens
  bool shuffle = true;              // seeded epoch-wise permutation of windows; false = contiguous
  Located<std::string> val;         // validation shards (glob); "" = no validation
  Located<std::int64_t> val_every{0, {}};  // steps between validation passes (and after the last); 0 = only after the last
  std::int64_t val_sequences = 0;   // sequences of val per pass; 0 = 20 × global_batch, capped by the file
};

// ---------------------------------------------------------------------------------- [checkpoint]
// docs/checkpoints.md: runtime/ckpt writes, resumes and reshards from these.
struct CheckpointSpec {
  Located<std::string> dir;                 // "" = no checkpoints (and a signal keeps none)
  Located<std::int64_t> every{0, {}};       // steps between checkpoints, and the last step; 0 = none
  Located<int> keep{3, {}};                 // complete checkpoints kept
  Located<std::string> resume{"auto", {}};  // auto (latest, if any) | never | a step folder or checkpoint.dir
};

// ---------------------------------------------------------------------------------- [metrics]
// Rank 0 watches the run (docs/watching.md): metrics.jsonl, TensorBoard events, the Prometheus
// endpoint. `prometheus` carries where it was written (empty when left at its default), so that
// the warning about an address it cannot bind points there; `tensorboard` likewise.
struct MetricsSpec {
  std::string run_dir = "runs/default";
  Located<std::string> prometheus{"127.0.0.1:9464", {}};  // "host:port" (util/host_port.h); "" turns it off
  std::int64_t log_every = 10;
  Located<bool> tensorboard{true, {}};  // run_dir/tb/rank0/events.out.tfevents.*
  std::int64_t sample_every = 0;       // rank 0 prints a generated sample every N steps; 0 = off
  std::string sample_prompt = "\n";   // what those samples continue
};

// ---------------------------------------------------------------------------------- [plan]
// The planner's cost-model knobs (docs/planner.md); `llmrt sweep --calibrate` writes measured ones.
struct PlanSpec {
  double compute_efficiency = 0.5;   // achieved ÷ peak FLOP/s of a device for the run's precision
  double network_efficiency = 0.8;   // achieved ÷ nominal bandwidth of a link
  double workspace_gib = 1.0;        // per device: kernels' scratch, allocator slack, CUDA context
  int top = 10;                      // rows `llmrt plan` prints
};

// ---------------------------------------------------------------------------------- [sweep]
struct SweepSpec {
  std::vector<int> pp, tp, dp;
  std::vector<std::string> schedule;
  std::vector<int> microbatch_size;
  std::vector<int> virtual_stages;
  int measure_top_k = 3;
  std::int64_t measure_steps = 5;
};

// The whole file, read and checked section by section.
struct Spec {
  std::string config_path;  // the file named on the command line
  ClusterSpec cluster;
  ModelSpec model;
  ParallelSpec parallel;
  TrainSpec train;
  DataSpec data;
  CheckpointSpec checkpoint;
  MetricsSpec metrics;
  PlanSpec plan;
  SweepSpec sweep;
};

}  // namespace llmrt
