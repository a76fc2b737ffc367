#include "plugtest/optimizer_checks.h"

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "plugin/host_tensors.h"
#include "plugin/plugin_calls.h"

namespace llmrt::plugtest {
namespace {

constexpr int kSteps = 3;  // step 1 from the initial state, then two more (bias corrections, momenta)

// Parameters and every state buffer, flat.
struct OptimizerState {
  std::vector<float> params;
  std::vector<std::vector<float>> states;
};

llmrt_tensor flat(float* data, std::size_t count) {
  return host_tensor(data, LLMRT_DTYPE_F32, {static_cast<std::int64_t>(count)});
}

llmrt_call_ctx cpu_ctx() {
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {LLMRT_DEVICE_CPU, 0};
  ctx.tp_size = 1;
  return ctx;
}

// One step over elements [begin, end) of every buffer.
Status step_range(const ComponentInstance& optimizer, OptimizerState& state, std::vector<float>& grads,
                  std::size_t begin, std::size_t end, double lr, std::int64_t step) {
  llmrt_tensor params = flat(state.params.data() + begin, end - begin);
  const llmrt_tensor g = flat(grads.data() + begin, end - begin);
  std::vector<llmrt_tensor> states;
  for (auto& s : state.states) states.push_back(flat(s.data() + begin, end - begin));
  return optimizer_step(optimizer, cpu_ctx(), params, g, states, lr, step);
}

// kSteps steps, each over the buffer cut at `cuts` (empty: the whole buffer in one call).
Result<OptimizerState> run_steps(const OptimizerTestSetup& setup, OptimizerState state,
                                 const std::vector<std::vector<float>>& grads, const std::vector<std::size_t>& cuts) {
  LLMRT_ASSIGN_OR_RETURN(auto optimizer, create_optimizer(*setup.component, *setup.config));
  std::vector<std::size_t> bounds = {0};
  bounds.insert(bounds.end(), cuts.begin(), cuts.end());
  bounds.push_back(state.params.size());
  for (int step = 1; step <= kSteps; ++step) {
    std::vector<float> g = grads[static_cast<std::size_t>(step - 1)];
    for (std::size_t b = 0; b + 1 < bounds.size(); ++b) {
      LLMRT_RETURN_IF_ERROR(step_range(optimizer, state, g, bounds[b], bounds[b + 1], setup.lr, step));
    }
  }
  return state;
}

// The state specs: named, unique, f32, finite initial values.
Result<OptimizerState> initial_state(const OptimizerTestSetup& setup, CheckReport& report, bool& ok) {
  LLMRT_ASSIGN_OR_RETURN(auto optimizer, create_optimizer(*setup.component, *setup.config));
  LLMRT_ASSIGN_OR_RETURN(auto specs, optimizer_state_specs(optimizer));
  OptimizerState state;
  std::set<std::string> names;
  std::vector<std::string> listed;
  std::string problem;
  for (const llmrt_state_spec& spec : specs) {
    const std::string name = spec.name != nullptr ? spec.name : "";
    if (name.empty()) problem = "a state spec has no name";
    else if (!names.insert(name).second) problem = fmt::format("two state specs are named '{}'", name);
    else if (spec.dtype != LLMRT_DTYPE_F32) problem = fmt::format("state '{}' has dtype {}: the host keeps f32 states", name, spec.dtype);
    else if (!std::isfinite(spec.init_value)) problem = fmt::format("state '{}' starts at {}", name, spec.init_value);
    if (!problem.empty()) break;
    state.states.emplace_back(setup.elements, static_cast<float>(spec.init_value));
    listed.push_back(fmt::format("{} = {}", name, spec.init_value));
  }
  ok = problem.empty();
  report.verdict(ok, "state_init", ok ? fmt::format("{} state buffer{}{}", specs.size(), specs.size() == 1 ? "" : "s",
                                                    listed.empty() ? "" : fmt::format(" ({})", fmt::join(listed, ", ")))
                                      : problem);
  return state;
}

std::string first_difference(const OptimizerState& got, const OptimizerState& want) {
  Difference d = compare(got.params, want.params);
  bool equal = d.bitwise_equal;
  std::string where = "parameters";
  for (std::size_t s = 0; s < want.states.size(); ++s) {
    const Difference ds = compare(got.states[s], want.states[s]);
    equal = equal && ds.bitwise_equal;
    if (!(ds.max_error <= d.max_error)) d = ds, where = fmt::format("state {}", s);
  }
  return equal ? std::string() : where + ": " + describe(d);
}

}  // namespace

Status run_optimizer_checks(const OptimizerTestSetup& setup, CheckReport& report) {
  bool states_ok = false;
  LLMRT_ASSIGN_OR_RETURN(OptimizerState start, initial_state(setup, report, states_ok));
  if (!states_ok) return Status::success();
  std::mt19937 rng(setup.seed);
  std::uniform_real_distribution<float> spread(-1.f, 1.f);
  start.params.resize(setup.elements);
  for (float& p : start.params) p = spread(rng);
  std::vector<std::vector<float>> grads(kSteps, std::vector<float>(setup.elements));
  for (auto& g : grads) for (float& v : g) v = 0.1f * spread(rng);

  LLMRT_ASSIGN_OR_RETURN(OptimizerState whole, run_steps(setup, start, grads, {}));
  bool finite = true;
  for (float v : whole.params) finite = finite && std::isfinite(v);
  for (const auto& s : whole.states) for (float v : s) finite = finite && std::isfinite(v);
  report.verdict(finite, "finite", finite ? fmt::format("parameters and states finite after {} steps", kSteps)
                                          : fmt::format("a parameter or state is NaN or Inf after {} steps", kSteps));
  const Difference moved = compare(whole.params, start.params);
  report.verdict(!moved.bitwise_equal, "updates", !moved.bitwise_equal
      ? fmt::format("{} steps at lr {} move the parameters (largest change {:.3g})", kSteps, setup.lr, moved.max_abs)
      : fmt::format("{} steps at lr {} with non-zero gradients left every parameter as it was", kSteps, setup.lr));

  LLMRT_ASSIGN_OR_RETURN(OptimizerState again, run_steps(setup, start, grads, {}));
  const std::string nondeterministic = first_difference(again, whole);
  report.verdict(nondeterministic.empty(), "determinism", nondeterministic.empty()
      ? "the same steps from the same state give the same bits" : "the same steps gave other bits: " + nondeterministic);

  const std::size_t half = setup.elements / 2;
  LLMRT_ASSIGN_OR_RETURN(OptimizerState split, run_steps(setup, start, grads, {half}));
  const std::string differs = first_difference(split, whole);
  report.verdict(differs.empty(), "split_buffers", differs.empty()
      ? fmt::format("{} steps over [0, {}) and [{}, {}) give the bits of the same steps over the whole buffer", kSteps,
                    half, half, setup.elements)
      : fmt::format("the host may call step on parts of the buffer (ZeRO shards): over [0, {}) and [{}, {}) the "
                    "result differs from one call over the whole, {}", half, half, setup.elements, differs));
  report.skip("reference", "the optimizer declares no reference formula (the optimizer ABI has no slot for one yet)");
  return Status::success();
}

}  // namespace llmrt::plugtest
