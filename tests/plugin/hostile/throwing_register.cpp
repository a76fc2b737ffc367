// A C++ plugin whose registration throws after adding one component: the C++ layer must turn
// the exception into a status, and the loader must keep nothing of the plugin.
#include <stdexcept>

#include <llmrt/plugin.hpp>

namespace {
class Nothing : public llmrt::PipelineSchedule {
 public:
  explicit Nothing(const llmrt::ComponentArgs&) {}
  std::vector<llmrt_action> actions(const llmrt_schedule_shape&, int) override { return {}; }
};
}  // namespace

LLMRT_PLUGIN("throwing", "0.1.0") {
  registrar.add_pipeline_schedule<Nothing>("throwing.first", "0.1.0");
  throw std::runtime_error("cannot open the tuning table /nonexistent/tuning.json");
}
