// @NAME@: a GPipe pipeline schedule (every forward, then every backward) written out action by
// action, as an llmrt pipeline-schedule plugin (written by `llmrt plugins new`; make it yours).
// A schedule is data: the host verifies every rank's list together before it runs any of them.
#include <string>
#include <vector>

#include <llmrt/plugin.hpp>

namespace {

class @CLASS@ : public llmrt::PipelineSchedule {
 public:
  explicit @CLASS@(const llmrt::ComponentArgs&) {}

  std::string check_shape(const llmrt_schedule_shape& shape) override {
    if (shape.stages < 1 || shape.microbatches < 1) return "stages and microbatches must be positive";
    if (shape.virtual_stages != 1) return "@NAME@ runs one model chunk per rank: virtual_stages must be 1";
    return "";
  }

  // Pipeline rank `rank` of shape.stages: receive from rank - 1, send to rank + 1 (and back).
  std::vector<llmrt_action> actions(const llmrt_schedule_shape& shape, int rank) override {
    if (const std::string reason = check_shape(shape); !reason.empty()) throw llmrt::PluginError(reason);
    const bool first = rank == 0, last = rank == shape.stages - 1;
    std::vector<llmrt_action> list;
    auto add = [&list](llmrt_action_kind kind, int mb, int peer) { list.push_back({static_cast<int32_t>(kind), mb, 0, peer}); };
    for (int mb = 0; mb < shape.microbatches; ++mb) {
      if (!first) add(LLMRT_ACTION_RECV_ACTIVATION, mb, rank - 1);
      add(LLMRT_ACTION_FORWARD, mb, -1);
      if (!last) add(LLMRT_ACTION_SEND_ACTIVATION, mb, rank + 1);
    }
    for (int mb = 0; mb < shape.microbatches; ++mb) {
      if (!last) add(LLMRT_ACTION_RECV_GRADIENT, mb, rank + 1);
      add(LLMRT_ACTION_BACKWARD_INPUT, mb, -1);
      add(LLMRT_ACTION_BACKWARD_WEIGHT, mb, -1);
      if (!first) add(LLMRT_ACTION_SEND_GRADIENT, mb, rank - 1);
    }
    return list;
  }
};

}  // namespace

LLMRT_PLUGIN("@NAME@", "0.1.0") {
  registrar.add_pipeline_schedule<@CLASS@>("@NAME@", "0.1.0", "GPipe: every forward, then every backward");
}
