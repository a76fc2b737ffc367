// The job sections: [parallel], [train], [data], [checkpoint], [metrics], [sweep].
#include "config/limits.h"
#include "config/read_spec.h"
#include "util/host_port.h"

#include <cmath>

namespace llmrt {
namespace {

// An integer > 0 or "auto".
Located<AutoInt> read_degree(TableReader& table, std::string_view key) {
  Located<AutoInt> degree{std::nullopt, table.pos_of(key)};
  const toml::node* node = table.node(key);
  if (!node) return degree;
  if (const auto* text = node->as_string()) {
    if (text->get() != "auto") table.fail(key, fmt::format("expected a positive integer or \"auto\", found \"{}\"", text->get()));
    return degree;
  }
  if (const auto* value = node->as_integer()) {
    if (value->get() <= 0 || value->get() > kMaxIntKey) {
      table.fail(key, fmt::format("expected a positive integer of at most {} or \"auto\", found {}", kMaxIntKey,
                                  value->get()));
    } else {
      degree.value = static_cast<int>(value->get());
      table.check_at_most(key, value->get(), kMaxDevices, "devices in the cluster");
    }
    return degree;
  }
  table.fail(key, fmt::format("expected a positive integer or \"auto\", found {}", describe_found(*node)));
  return degree;
}

// [parallel].zero: 0, 1 or "auto" (nullopt).
Located<AutoInt> read_zero(TableReader& table) {
  Located<AutoInt> zero{std::nullopt, table.pos_of("zero")};
  const toml::node* node = table.node("zero");
  if (!node) return zero;
  const auto* text = node->as_string();
  const auto* value = node->as_integer();
  if (text && text->get() == "auto") return zero;
  if (value && (value->get() == 0 || value->get() == 1)) {
    zero.value = static_cast<int>(value->get());
  } else if (value && (value->get() == 2 || value->get() == 3)) {
    table.fail("zero", fmt::format("ZeRO stage {} (sharded gradients{}) is not built yet: expected 0, 1 or \"auto\"",
                                   value->get(), value->get() == 3 ? " and parameters" : ""));
  } else {
    table.fail("zero", fmt::format("expected 0, 1 or \"auto\", found {}",
                                   text ? fmt::format("\"{}\"", text->get()) : describe_found(*node)));
  }
  return zero;
}

// The key's position when the user wrote it, else an empty one: later checks (checkpoint keys,
// the loss scale under auto) tell a key the user wrote from its default by it.
SourcePos written_pos(const TableReader& table, std::string_view key) {
  return table.has(key) ? table.pos_of(key) : SourcePos{};
}

std::vector<int> read_positive_list(TableReader& table, std::string_view key) {
  std::vector<int> values;
  for (std::int64_t value : table.integers(key).value_or(std::vector<std::int64_t>{})) {
    if (value <= 0 || value > kMaxIntKey) {
      table.fail(key, fmt::format("expected positive integers of at most {}, found {}", kMaxIntKey, value));
      break;
    }
    values.push_back(static_cast<int>(value));
  }
  return values;
}

constexpr int kMaxParamRank = 8;  // LLMRT_MAX_RANK of the plugin ABI

// A finite number >= 0 at `key`, when written.
std::optional<double> finite_nonnegative(TableReader& table, std::string_view key) {
  if (!table.has(key)) return std::nullopt;
  const double value = table.nonnegative_number_or(key, 0.0);
  if (!std::isfinite(value)) table.fail(key, fmt::format("expected a finite number >= 0, found {}", value));
  return value;
}

// [[train.param_group]]: a selector (match and/or ndim) and at least one value it sets.
ParamGroupSpec read_param_group(TableReader& group) {
  ParamGroupSpec spec;
  spec.pos = group.pos();
  spec.pos.key_path = group.path();
  spec.match = group.strings("match").value_or(std::vector<std::string>{});
  for (const std::string& pattern : spec.match) {
    if (pattern.empty()) group.fail("match", "expected non-empty name patterns (\"*.ln_*\", \"*_b\"), found \"\"");
  }
  if (group.has("match") && spec.match.empty()) group.fail("match", "expected at least one name pattern, found []");
  if (group.has("ndim")) {
    const std::int64_t ndim = group.integer("ndim").value_or(0);
    if (ndim < 1 || ndim > kMaxParamRank) {
      group.fail("ndim", fmt::format("expected a tensor rank from 1 to {}, found {}", kMaxParamRank, ndim));
    }
    spec.ndim = static_cast<int>(ndim);
  }
  if (!group.has("match") && !group.has("ndim")) {
    group.fail("match", "a param group needs `match` (name patterns) or `ndim` (a tensor rank) to select parameters");
  }
  spec.lr_scale = finite_nonnegative(group, "lr_scale");
  spec.weight_decay = finite_nonnegative(group, "weight_decay");
  if (!group.has("lr_scale") && !group.has("weight_decay")) {
    group.fail("lr_scale", "a param group sets lr_scale or weight_decay (or both); this one sets neither");
  }
  return spec;
}

}  // namespace

ParallelSpec read_parallel(TableReader parallel) {
  ParallelSpec spec;
  spec.pp = read_degree(parallel, "pp");
  spec.tp = read_degree(parallel, "tp");
  spec.dp = read_degree(parallel, "dp");
  spec.schedule = parallel.string_or("schedule", "1f1b");
  spec.virtual_stages = parallel.positive_int_or("virtual_stages", 1);
  spec.microbatch_size = parallel.positive_int_or("microbatch_size", 1);
  spec.zero_overlap = parallel.boolean("zero_overlap").value_or(true);
  spec.stage_layers.pos = parallel.pos_of("stage_layers");
  const toml::node* stage_layers = parallel.node("stage_layers");
  if (stage_layers && stage_layers->is_string()) {
    if (stage_layers->as_string()->get() != "auto") {
      parallel.fail("stage_layers", fmt::format("expected \"auto\" or an array of layer counts, found {}",
                                                describe_found(*stage_layers)));
    }
  } else if (stage_layers) {
    spec.stage_layers.value = read_positive_list(parallel, "stage_layers");
  }
  spec.zero = read_zero(parallel);
  return spec;
}

TrainSpec read_train(TableReader train) {
  TrainSpec spec;
  spec.steps = train.positive_or("steps", 1000);
  train.check_at_most("steps", spec.steps, kMaxSteps, "optimizer steps");
  spec.global_batch = {train.positive_or("global_batch", 8), train.pos_of("global_batch")};
  train.check_at_most("global_batch", spec.global_batch.value, kMaxGlobalBatch, "sequences per step");
  constexpr Precision kChoices[] = {Precision::kFp32, Precision::kBf16, Precision::kFp16, Precision::kAuto};
  spec.precision = kChoices[train.choice_or("precision", {"fp32", "bf16", "fp16", "auto"}, 0)];
  spec.loss_scale_init = train.positive_number_or("loss_scale_init", spec.loss_scale_init);
  spec.loss_scale_window = train.positive_or("loss_scale_window", spec.loss_scale_window);
  for (const char* key : {"loss_scale_init", "loss_scale_window"}) {
    if (train.has(key) && !spec.loss_scale_written) {
      spec.loss_scale_written = true;
      spec.loss_scale_pos = train.pos_of(key);
    }
    if (train.has(key) && spec.precision != Precision::kFp16 && spec.precision != Precision::kAuto) {
      train.fail(key, "applies only with train.precision = \"fp16\" or \"auto\" (bf16 and fp32 keep fp32's exponent "
                      "range and train without a loss scale)");
    }
  }
  spec.grad_clip = train.nonnegative_number_or("grad_clip", 1.0);
  spec.seed = static_cast<std::uint64_t>(train.nonnegative_or("seed", 1337));
  spec.timeout_s = train.positive_number_or("timeout_s", 300);
  spec.optimizer = read_component(train.table("optimizer"), "adamw", {});
  spec.lr_schedule = read_component(train.table("lr_schedule"), "constant", {});
  constexpr Recompute kModes[] = {Recompute::kNone, Recompute::kSelective, Recompute::kFull, Recompute::kAuto};
  spec.recompute = {kModes[train.choice_or("recompute", {"none", "selective", "full", "auto"}, 3)],
                    written_pos(train, "recompute")};
  spec.detect_anomaly = train.boolean("detect_anomaly").value_or(false);
  spec.guard_params = train.boolean("guard_params").value_or(false);
  spec.cuda_graph = {train.boolean("cuda_graph").value_or(false), written_pos(train, "cuda_graph")};
  for (TableReader& group : train.tables("param_group")) spec.param_groups.push_back(read_param_group(group));
  return spec;
}

DataSpec read_data(TableReader data, std::int64_t global_batch) {
  DataSpec spec;
  spec.train = data.string_or("train", "");
  spec.shuffle = data.boolean("shuffle").value_or(true);
  spec.val = {data.string_or("val", ""), written_pos(data, "val")};
  spec.val_every = {data.nonnegative_or("val_every", 0), written_pos(data, "val_every")};
  spec.val_sequences = data.nonnegative_or("val_sequences", 0);
  if (!spec.val.value.empty() && spec.train.empty()) {
    data.fail("val", "needs data.train: validation measures a model trained on token shards, not on random tokens");
  }
  if (spec.val.value.empty() && (spec.val_every.value > 0 || data.has("val_sequences"))) {
    data.fail(spec.val_every.value > 0 ? "val_every" : "val_sequences", "needs data.val (the validation shards)");
  }
  if (data.has("val_sequences") && (spec.val_sequences == 0 || spec.val_sequences % global_batch != 0)) {
    data.fail("val_sequences", fmt::format("expected a positive multiple of train.global_batch = {} (every layout "
                                           "then validates on the same sequences), found {}",
                                           global_batch, spec.val_sequences));
  }
  return spec;
}

CheckpointSpec read_checkpoint(TableReader checkpoint) {
  CheckpointSpec spec;
  spec.dir = {checkpoint.string_or("dir", ""), written_pos(checkpoint, "dir")};
  spec.every = {checkpoint.nonnegative_or("every", 0), written_pos(checkpoint, "every")};
  spec.keep = {checkpoint.positive_int_or("keep", 3), written_pos(checkpoint, "keep")};
  spec.resume = {checkpoint.string_or("resume", "auto"), written_pos(checkpoint, "resume")};
  if (spec.every.value > 0 && spec.dir.value.empty()) {
    checkpoint.fail("dir", fmt::format("checkpoint.every = {} needs a checkpoint.dir to write to", spec.every.value));
  }
  return spec;
}

MetricsSpec read_metrics(TableReader metrics, const std::string& model_name) {
  MetricsSpec spec;
  spec.run_dir = metrics.string_or("run_dir", "runs/" + model_name);
  spec.prometheus = {metrics.string_or("prometheus", "127.0.0.1:9464"), written_pos(metrics, "prometheus")};
  if (!spec.prometheus.value.empty()) {
    auto address = parse_host_port(spec.prometheus.value);
    if (!address) metrics.fail("prometheus", address.error().message());
  }
  spec.log_every = metrics.positive_or("log_every", 10);
  spec.tensorboard = {metrics.boolean("tensorboard").value_or(true), written_pos(metrics, "tensorboard")};
  spec.sample_every = metrics.nonnegative_or("sample_every", 0);
  spec.sample_prompt = metrics.string_or("sample_prompt", "\n");
  if (spec.sample_prompt.empty()) metrics.fail("sample_prompt", "expected at least one character (default \"\\n\")");
  return spec;
}

PlanSpec read_plan(TableReader plan) {
  PlanSpec spec;
  spec.compute_efficiency = plan.positive_number_or("compute_efficiency", 0.5);
  spec.network_efficiency = plan.positive_number_or("network_efficiency", 0.8);
  for (const char* key : {"compute_efficiency", "network_efficiency"}) {
    const auto value = plan.number(key);
    if (value && *value > 1.0) plan.fail(key, fmt::format("expected a fraction in (0, 1], found {}", *value));
  }
  spec.workspace_gib = plan.nonnegative_number_or("workspace_gib", 1.0);
  spec.top = plan.positive_int_or("top", 10);
  return spec;
}

SweepSpec read_sweep(TableReader sweep) {
  SweepSpec spec;
  spec.pp = read_positive_list(sweep, "pp");
  spec.tp = read_positive_list(sweep, "tp");
  spec.dp = read_positive_list(sweep, "dp");
  spec.schedule = sweep.strings("schedule").value_or(std::vector<std::string>{});
  spec.microbatch_size = read_positive_list(sweep, "microbatch_size");
  spec.virtual_stages = read_positive_list(sweep, "virtual_stages");
  spec.measure_top_k = sweep.positive_int_or("measure_top_k", 3);
  spec.measure_steps = sweep.positive_or("measure_steps", 5);
  sweep.check_at_most("measure_steps", spec.measure_steps, kMaxSteps, "optimizer steps");
  return spec;
}

}  // namespace llmrt
