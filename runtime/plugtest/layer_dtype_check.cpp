// --dtype bf16: the layer created with compute_dtype = bf16 runs as a bf16 stage runs it
// (activations and its parameter copies in bf16, parameter gradients in f32) and is compared
// with itself at f32 on the same inputs and parameters, rounded to bf16 first so that both see
// the same values.
#include <fmt/format.h>

#include "plugtest/layer_suite.h"

namespace llmrt::plugtest {
namespace {

// bf16 keeps 8 significant bits: each rounding is within 2^-9 ≈ 2e-3 relative. A layer rounds
// its activations at a few places (its output, what it saves, a block's sublayer outputs), and
// normalisations and softmax pass that on, so its outputs and gradients sit about 1e-2 of their
// rms from the f32 run's; a wrong conversion (a bf16 read as f32, a dropped scale) is O(1).
constexpr double kBf16Tol = 5e-2;

struct Bf16Run {
  std::vector<HostTensor> out;
  Gradients grads;
};

// The rounded problem on a bf16 instance: one forward and both backward passes.
Result<Bf16Run> run_bf16(LayerRig& rig, const Problem& rounded) {
  LLMRT_RETURN_IF_ERROR(rig.bind(rounded));
  for (HostTensor& t : rig.inputs()) t = t.as_bf16();
  for (HostTensor& t : rig.params()) t = t.as_bf16();
  LLMRT_ASSIGN_OR_RETURN(auto declared, rig.declared_outputs());
  Bf16Run run;
  std::vector<HostTensor> grad_out;
  for (std::size_t k = 0; k < declared.size(); ++k) {
    HostTensor zero = HostTensor::zeros(std::vector<std::int64_t>(declared[k].shape, declared[k].shape + declared[k].rank));
    const bool half = declared[k].dtype == LLMRT_DTYPE_BF16;
    run.out.push_back(half ? zero.as_bf16() : zero);
    grad_out.push_back(half ? rounded.grad_out.at(k).as_bf16() : rounded.grad_out.at(k));
  }
  std::vector<std::byte> saved;
  LLMRT_RETURN_IF_ERROR(rig.forward(run.out, saved));
  run.grads = rig.fresh_gradients();
  LLMRT_RETURN_IF_ERROR(rig.backward(grad_out, saved, run.grads));
  for (HostTensor& t : run.out) t = t.as_f32();
  for (HostTensor& t : run.grads.in) t = t.as_f32();
  return run;
}

Problem rounded_to_bf16(const Problem& problem) {
  Problem rounded = problem;
  for (auto* set : {&rounded.inputs, &rounded.global_params, &rounded.grad_out}) {
    for (HostTensor& t : *set) t = t.as_bf16().as_f32();
  }
  return rounded;
}

}  // namespace

Result<LayerRig> create_bf16(const LayerTestSetup& setup) {
  llmrt_layer_context context = layer_context(0, 1, LLMRT_RECOMPUTE_NONE);
  context.compute_dtype = LLMRT_DTYPE_BF16;
  LLMRT_ASSIGN_OR_RETURN(LayerRig rig, LayerRig::create(*setup.component, *setup.config, context,
                                                        cpu_call_ctx(0, 1, nullptr)));
  LLMRT_ASSIGN_OR_RETURN(const std::string refusal, layer_supports(rig.instance(), LLMRT_DEVICE_CPU, LLMRT_DTYPE_BF16));
  if (!refusal.empty()) {
    return input_error("plugins test {} --dtype bf16: the layer does not run on the CPU with bf16 activations: {}",
                       setup.component->name, refusal);
  }
  return rig;
}

Status check_bf16_supported(const LayerTestSetup& setup) {
  auto rig = create_bf16(setup);
  return rig.ok() ? Status::success() : Status(rig.error());
}

Status check_bf16(const LayerTestSetup& setup, const Problem& problem, CheckReport& report) {
  LLMRT_ASSIGN_OR_RETURN(LayerRig rig, create_bf16(setup));
  const Problem rounded = rounded_to_bf16(problem);
  LLMRT_ASSIGN_OR_RETURN(LayerRig f32, LayerRig::create(*setup.component, *setup.config,
                                                        layer_context(0, 1, LLMRT_RECOMPUTE_NONE),
                                                        cpu_call_ctx(0, 1, nullptr)));
  LLMRT_RETURN_IF_ERROR(f32.bind(rounded));
  Problem f32_problem = rounded;
  LLMRT_ASSIGN_OR_RETURN(const Baseline want, run_once(f32, f32_problem));
  LLMRT_ASSIGN_OR_RETURN(const Bf16Run got, run_bf16(rig, rounded));
  LLMRT_ASSIGN_OR_RETURN(const Bf16Run again, run_bf16(rig, rounded));
  Difference worst;
  std::string where;
  bool deterministic = true;
  auto take = [&](const std::vector<HostTensor>& a, const std::vector<HostTensor>& b,
                  const std::vector<HostTensor>& repeat, const std::string& what) {
    for (std::size_t k = 0; k < a.size() && k < b.size(); ++k) {
      const Difference d = compare(body(a[k]), body(b[k]));
      deterministic = deterministic && compare(body(repeat[k]), body(a[k])).bitwise_equal;
      if (where.empty() || !(d.max_error <= worst.max_error)) {
        worst = d, where = k < rig.specs().size() && what == "param" ? fmt::format("gradient of '{}'", rig.specs()[k].name) : what;
      }
    }
  };
  take(got.out, want.out, again.out, "output");
  take(got.grads.in, want.grads.in, again.grads.in, "gradient w.r.t. the input");
  take(got.grads.params, want.grads.params, again.grads.params, "param");
  const bool ok = deterministic && worst.max_error <= kBf16Tol;
  report.verdict(ok, "compute_dtype_bf16",
                 fmt::format("{}bf16 activations against f32 on the same bf16-rounded inputs and parameters: worst {}: "
                             "{} (allowed {:.0e})", deterministic ? "" : "two bf16 runs gave other bits; ", where,
                             describe(worst), kBf16Tol));
  return Status::success();
}

}  // namespace llmrt::plugtest
