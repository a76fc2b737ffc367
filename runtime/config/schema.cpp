#include "config/schema.h"

#include <algorithm>

namespace llmrt {
namespace {

using K = KeyType;

// Keep in step with docs/config.md (a test fails when a key is missing there).
const std::vector<KeyInfo> kSchema = {
    {"include", K::kStringArray, "[]"},
    {"cluster", K::kTable, "", true},
    {"cluster.name", K::kString, "\"cluster\""},
    {"cluster.power_overhead_w_per_node", K::kFloat, "300"},
    {"cluster.price_per_kwh", K::kFloat, "0"},
    {"cluster.currency", K::kString, "\"\""},
    {"cluster.node", K::kTableArray, "", true},
    {"cluster.node[].name", K::kString, "", true},
    {"cluster.node[].gpus", K::kTableArray, ""},
    {"cluster.node[].gpus.model", K::kString, "", true},
    {"cluster.node[].gpus.count", K::kInt, "", true},
    {"cluster.node[].gpus.compute_efficiency", K::kFloat, "plan.compute_efficiency"},
    {"cluster.node[].cpus", K::kTable, ""},
    {"cluster.node[].cpus.ranks", K::kInt, "", true},
    {"cluster.node[].cpus.threads_per_rank", K::kInt, "1"},
    {"cluster.node[].links", K::kTableArray, "[]"},
    {"cluster.node[].links[].kind", K::kString, "", true},
    {"cluster.node[].links[].gpus", K::kDeviceList, "", true},
    {"cluster.node[].links[].bandwidth_gbps", K::kFloat, "from the catalog"},
    {"cluster.node[].links[].latency_us", K::kFloat, "2 (nvlink), 5 (pcie)"},
    {"cluster.network", K::kTable, ""},
    {"cluster.network.kind", K::kString, "\"ethernet\""},
    {"cluster.network.bandwidth_gbps", K::kFloat, "10 (ethernet), 200 (infiniband)"},
    {"cluster.network.latency_us", K::kFloat, "50 (ethernet), 2 (infiniband)"},
    {"cluster.device_model", K::kTableArray, "[]"},
    {"cluster.device_model[].name", K::kString, "", true},
    {"cluster.device_model[].memory_gib", K::kFloat, "", true},
    {"cluster.device_model[].peak_tflops", K::kTable, "", true},
    {"cluster.device_model[].peak_tflops.fp32", K::kFloat, "0"},
    {"cluster.device_model[].peak_tflops.tf32", K::kFloat, "0"},
    {"cluster.device_model[].peak_tflops.fp16", K::kFloat, "0"},
    {"cluster.device_model[].peak_tflops.bf16", K::kFloat, "0"},
    {"cluster.device_model[].memory_bandwidth_gbps", K::kFloat, "", true},
    {"cluster.device_model[].tdp_w", K::kFloat, "", true},
    {"cluster.device_model[].nvlink_bandwidth_gbps", K::kFloat, "0"},
    {"cluster.device_model[].pcie_bandwidth_gbps", K::kFloat, "256"},
    {"model", K::kTable, "", true},
    {"model.name", K::kString, "\"gpt\""},
    {"model.seq_len", K::kInt, "", true},
    {"model.vocab_size", K::kInt, "", true},
    {"model.vocab_pad_multiple", K::kInt, "1"},
    {"model.plugin_paths", K::kStringArray, "[]"},
    {"model.init_from", K::kString, "\"\""},
    {"model.layer", K::kTableArray, "", true},
    {"model.layer[]", K::kComponent, ""},
    {"model.layer[].component", K::kString, "", true},
    {"model.layer[].repeat", K::kInt, "1"},
    {"model.layer[].recompute", K::kString, "train.recompute"},
    {"parallel", K::kTable, ""},
    {"parallel.pp", K::kIntOrAuto, "\"auto\""},
    {"parallel.tp", K::kIntOrAuto, "\"auto\""},
    {"parallel.dp", K::kIntOrAuto, "\"auto\""},
    {"parallel.schedule", K::kString, "\"1f1b\""},
    {"parallel.virtual_stages", K::kInt, "1"},
    {"parallel.microbatch_size", K::kInt, "1"},
    {"parallel.stage_layers", K::kIntArrayOrAuto, "\"auto\""},
    {"parallel.zero", K::kIntOrAuto, "\"auto\""},
    {"parallel.zero_overlap", K::kBool, "true"},
    {"train", K::kTable, ""},
    {"train.steps", K::kInt, "1000"},
    {"train.global_batch", K::kInt, "8"},
    {"train.precision", K::kString, "\"fp32\""},
    {"train.loss_scale_init", K::kFloat, "65536.0"},
    {"train.loss_scale_window", K::kInt, "1000"},
    {"train.grad_clip", K::kFloat, "1.0"},
    {"train.seed", K::kInt, "1337"},
    {"train.timeout_s", K::kFloat, "300"},
    {"train.recompute", K::kString, "\"auto\""},
    {"train.detect_anomaly", K::kBool, "false"},
    {"train.guard_params", K::kBool, "false"},
    {"train.cuda_graph", K::kBool, "false"},
    {"train.param_group", K::kTableArray, "[]"},
    {"train.param_group[].match", K::kStringArray, "[] (any name)"},
    {"train.param_group[].ndim", K::kInt, "0 (any rank)"},
    {"train.param_group[].lr_scale", K::kFloat, "1.0"},
    {"train.param_group[].weight_decay", K::kFloat, "the optimizer's (0 for no-decay tensors)"},
    {"train.optimizer", K::kComponent, "{ component = \"adamw\" }"},
    {"train.optimizer.component", K::kString, "\"adamw\""},
    {"train.lr_schedule", K::kComponent, "{ component = \"constant\" }"},
    {"train.lr_schedule.component", K::kString, "\"constant\""},
    {"data", K::kTable, ""},
    {"data.train", K::kString, "\"\" (random tokens)"},
    {"data.shuffle", K::kBool, "true"},
    {"data.val", K::kString, "\"\""},
    {"data.val_every", K::kInt, "0"},
    {"data.val_sequences", K::kInt, "0"},
    {"checkpoint", K::kTable, ""},
    {"checkpoint.dir", K::kString, "\"\" (no checkpoints)"},
    {"checkpoint.every", K::kInt, "0"},
    {"checkpoint.keep", K::kInt, "3"},
    {"checkpoint.resume", K::kString, "\"auto\""},
    {"metrics", K::kTable, ""},
    {"metrics.run_dir", K::kString, "\"runs/<model.name>\""},
    {"metrics.prometheus", K::kString, "\"127.0.0.1:9464\""},
    {"metrics.log_every", K::kInt, "10"},
    {"metrics.tensorboard", K::kBool, "true"},
    {"metrics.sample_every", K::kInt, "0"},
    {"metrics.sample_prompt", K::kString, "\"\\n\""},
    {"plan", K::kTable, ""},
    {"plan.compute_efficiency", K::kFloat, "0.5"},
    {"plan.network_efficiency", K::kFloat, "0.8"},
    {"plan.workspace_gib", K::kFloat, "1.0"},
    {"plan.top", K::kInt, "10"},
    {"sweep", K::kTable, ""},
    {"sweep.pp", K::kIntArray, "[]"},
    {"sweep.tp", K::kIntArray, "[]"},
    {"sweep.dp", K::kIntArray, "[]"},
    {"sweep.schedule", K::kStringArray, "[]"},
    {"sweep.microbatch_size", K::kIntArray, "[]"},
    {"sweep.virtual_stages", K::kIntArray, "[]"},
    {"sweep.measure_top_k", K::kInt, "3"},
    {"sweep.measure_steps", K::kInt, "5"},
};

}  // namespace

const std::vector<KeyInfo>& config_schema() { return kSchema; }

std::string schema_path_of(std::string_view key_path) {
  std::string normalized;
  bool in_index = false;
  for (char c : key_path) {
    if (c == '[') {
      in_index = true;
      normalized += '[';
    } else if (c == ']') {
      in_index = false;
      normalized += ']';
    } else if (!in_index) {
      normalized += c;
    }
  }
  return normalized;
}

namespace {

// schema_path_of(), and a node's gpus list spelled like the single table: both are gpus.model.
std::string schema_lookup_path(std::string_view key_path) {
  std::string normalized = schema_path_of(key_path);
  for (const std::string listed : {".gpus[].", ".gpus[]"}) {
    const std::size_t at = normalized.find(listed);
    if (at != std::string::npos && (listed.back() == '.' || at + listed.size() == normalized.size())) {
      normalized.replace(at, listed.size(), listed.back() == '.' ? ".gpus." : ".gpus");
    }
  }
  return normalized;
}

}  // namespace

const KeyInfo* find_schema_key(std::string_view key_path) {
  const std::string normalized = schema_lookup_path(key_path);
  auto it = std::find_if(kSchema.begin(), kSchema.end(),
                         [&](const KeyInfo& info) { return info.path == normalized; });
  return it == kSchema.end() ? nullptr : &*it;
}

std::vector<std::string> schema_children(std::string_view table_path) {
  const std::string prefix = table_path.empty() ? std::string() : schema_lookup_path(table_path) + ".";
  std::vector<std::string> children;
  for (const KeyInfo& info : kSchema) {
    if (info.path.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = info.path.substr(prefix.size());
    if (rest.empty() || rest.find('.') != std::string_view::npos || rest.find('[') != std::string_view::npos) continue;
    children.emplace_back(rest);
  }
  return children;
}

std::string_view describe_key_type(KeyType type) {
  switch (type) {
    case K::kString: return "a string";
    case K::kInt: return "an integer";
    case K::kFloat: return "a number";
    case K::kBool: return "true or false";
    case K::kStringArray: return "an array of strings";
    case K::kIntArray: return "an array of integers";
    case K::kTable: return "a table";
    case K::kTableArray: return "an array of tables";
    case K::kIntOrAuto: return "an integer or \"auto\"";
    case K::kIntArrayOrAuto: return "an array of integers or \"auto\"";
    case K::kDeviceList: return "a device list such as \"0-7\", \"0,2\" or [0, 2]";
    case K::kComponent: return "a table with a component name";
  }
  return "a value";
}

}  // namespace llmrt
