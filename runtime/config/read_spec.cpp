#include "config/read_spec.h"

namespace llmrt {

Result<Spec> read_spec(const std::string& path, const std::vector<std::string>& overrides) {
  LLMRT_ASSIGN_OR_RETURN(auto document, load_config_document(path));
  LLMRT_RETURN_IF_ERROR(apply_overrides(document, overrides));
  LLMRT_RETURN_IF_ERROR(check_unknown_keys(document));

  ErrorSink sink;
  TableReader root = root_reader(document.root, path, sink);
  for (const char* section : {"cluster", "model"}) {
    if (!root.has(section)) root.fail(section, fmt::format("missing required section [{}]", section));
  }
  Spec spec;
  spec.config_path = path;
  spec.cluster = read_cluster(root.table("cluster"));
  spec.model = read_model(root.table("model"));
  spec.parallel = read_parallel(root.table("parallel"));
  spec.train = read_train(root.table("train"));
  spec.data = read_data(root.table("data"), spec.train.global_batch.value);
  spec.checkpoint = read_checkpoint(root.table("checkpoint"));
  spec.metrics = read_metrics(root.table("metrics"), spec.model.name);
  spec.plan = read_plan(root.table("plan"));
  spec.sweep = read_sweep(root.table("sweep"));
  LLMRT_RETURN_IF_ERROR(sink.status());
  return spec;
}

}  // namespace llmrt
