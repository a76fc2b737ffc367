#include "plugtest/layer_suite.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>

#include <fmt/format.h>

namespace llmrt::plugtest {
namespace {

// Relative error (compare()'s measure) allowed where two runs should agree but may round
// differently: the same sums in another order, a few ulps of fp32 (2^-24 ≈ 6e-8) on each of up
// to ~100 terms. A wrong result (a dropped term, a second accumulation) is off by O(1).
constexpr double kReorderTol = 1e-5;

// The worst difference over two lists of tensors, with the name of the tensor it is in.
struct SetDifference {
  Difference worst;
  std::string where;
  bool bitwise_equal = true;
};

SetDifference compare_sets(const std::vector<HostTensor>& got, const std::vector<HostTensor>& want,
                           const std::function<std::string(std::size_t)>& name) {
  SetDifference result;
  for (std::size_t k = 0; k < want.size() && k < got.size(); ++k) {
    const Difference d = compare(body(got[k]), body(want[k]));
    result.bitwise_equal = result.bitwise_equal && d.bitwise_equal;
    if (k == 0 || !(d.max_error <= result.worst.max_error)) result.worst = d, result.where = name(k);
  }
  return result;
}

std::string describe(const SetDifference& d) { return fmt::format("{}: {}", d.where, plugtest::describe(d.worst)); }

std::function<std::string(std::size_t)> param_names(const LayerRig& rig) {
  return [&rig](std::size_t k) { return fmt::format("gradient of '{}'", rig.specs()[k].name); };
}
std::string output_name(std::size_t k) { return fmt::format("output {}", k); }
std::string grad_in_name(std::size_t) { return "gradient w.r.t. the input"; }

std::string shape_string(const std::vector<std::int64_t>& shape) { return fmt::format("({})", fmt::join(shape, ", ")); }

// Every element of every declared output written, nothing past it.
bool check_shapes(const Baseline& base, CheckReport& report) {
  std::vector<std::string> shapes;
  for (std::size_t k = 0; k < base.out.size(); ++k) {
    const HostTensor& out = base.out[k];
    const std::uint32_t mark = std::bit_cast<std::uint32_t>(LayerRig::sentinel());
    std::size_t unwritten = 0, first = 0;
    for (std::size_t i = 0; i < out.count(); ++i) {
      if (std::bit_cast<std::uint32_t>(out.values[i]) == mark && unwritten++ == 0) first = i;
    }
    std::size_t past = 0;
    for (std::size_t i = out.count(); i < out.values.size(); ++i) past += std::bit_cast<std::uint32_t>(out.values[i]) != mark;
    if (unwritten != 0 || past != 0) {
      report.fail("infer_shapes", fmt::format(
          "output {}: infer_shapes declares {} = {} elements, but forward left {} of them unwritten (the first at "
          "element {}) and wrote {} past the end: the shape infer_shapes gives is not the one forward writes",
          k, shape_string(out.shape), out.count(), unwritten, first, past));
      return false;
    }
    shapes.push_back(shape_string(out.shape));
  }
  report.pass("infer_shapes", fmt::format("forward writes every element of the declared output{} {}, nothing past it",
                                          shapes.size() == 1 ? "" : "s", fmt::join(shapes, ", ")));
  return true;
}

// Nothing written past the end of a gradient buffer (each has LayerRig::kTail sentinels after it).
bool check_gradient_bounds(const Baseline& base, const LayerRig& rig, CheckReport& report) {
  const std::uint32_t mark = std::bit_cast<std::uint32_t>(LayerRig::sentinel());
  auto overrun = [&](const std::vector<HostTensor>& set, const std::function<std::string(std::size_t)>& name) {
    for (std::size_t k = 0; k < set.size(); ++k) {
      std::size_t past = 0;
      for (std::size_t i = set[k].count(); i < set[k].values.size(); ++i) {
        past += std::bit_cast<std::uint32_t>(set[k].values[i]) != mark;
      }
      if (past != 0) return fmt::format("backward wrote {} value{} past the end of the {} (shape {})", past,
                                        past == 1 ? "" : "s", name(k), shape_string(set[k].shape));
    }
    return std::string();
  };
  std::string bad = overrun(base.grads.in, grad_in_name);
  if (bad.empty()) bad = overrun(base.grads.params, param_names(rig));
  report.verdict(bad.empty(), "gradient_bounds",
                 bad.empty() ? "backward writes inside the input and parameter gradient buffers" : bad);
  return bad.empty();
}

void check_finite(const Baseline& base, const LayerRig& rig, CheckReport& report) {
  auto first_bad = [](const std::vector<HostTensor>& set, const std::function<std::string(std::size_t)>& name) {
    for (std::size_t k = 0; k < set.size(); ++k) {
      const auto values = body(set[k]);
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i])) return fmt::format("{} is {} at element {}", name(k), values[i], i);
      }
    }
    return std::string();
  };
  std::string bad = first_bad(base.out, output_name);
  if (bad.empty()) bad = first_bad(base.grads.in, grad_in_name);
  if (bad.empty()) bad = first_bad(base.grads.params, param_names(rig));
  report.verdict(bad.empty(), "finite", bad.empty() ? "outputs, input gradient and parameter gradients hold no NaN or Inf" : bad);
}

// Same inputs, same parameters: the same bits, in forward and in backward.
Status check_determinism(LayerRig& rig, Problem& problem, const Baseline& base, CheckReport& report) {
  LLMRT_ASSIGN_OR_RETURN(Baseline again, run_once(rig, problem));
  const SetDifference out = compare_sets(again.out, base.out, output_name);
  const SetDifference in = compare_sets(again.grads.in, base.grads.in, grad_in_name);
  const SetDifference params = compare_sets(again.grads.params, base.grads.params, param_names(rig));
  for (const SetDifference* d : {&out, &in, &params}) {
    if (!d->bitwise_equal) {
      report.fail("determinism", "a second call on the same inputs gave other bits: " + describe(*d));
      return Status::success();
    }
  }
  report.pass("determinism", "a second forward and backward on the same inputs give the same bits");
  return Status::success();
}

// grad_in is written (=): a buffer full of garbage gives the same gradient as a zeroed one.
Status check_grad_in_written(LayerRig& rig, Problem& problem, const Baseline& base, CheckReport& report) {
  if (base.grads.in.empty()) {
    report.skip("grad_in_written", "the input is token ids: no input gradient");
    return Status::success();
  }
  std::vector<HostTensor> out = base.out;
  std::vector<std::byte> saved;
  LLMRT_RETURN_IF_ERROR(rig.forward(out, saved));
  Gradients grads = rig.fresh_gradients();
  for (HostTensor& g : grads.in) std::fill(g.values.begin(), g.values.end(), 1234.5f);
  LLMRT_RETURN_IF_ERROR(rig.backward(problem.grad_out, saved, grads, BackwardPasses::kInputOnly));
  const SetDifference d = compare_sets(grads.in, base.grads.in, grad_in_name);
  report.verdict(d.worst.max_error <= kReorderTol, "grad_in_written",
                 d.worst.max_error <= kReorderTol
                     ? "backward_input writes (=) the input gradient: a buffer pre-filled with 1234.5 gives the same"
                     : "the input gradient must be written (=), not added to: pre-filled with 1234.5 it differs, " +
                           describe(d));
  return Status::success();
}

// Parameter gradients are accumulated (+=): two backward passes give twice one.
Status check_accumulation(LayerRig& rig, Problem& problem, const Baseline& base, CheckReport& report) {
  Gradients grads = rig.fresh_gradients();
  for (int call = 0; call < 2; ++call) {
    std::vector<HostTensor> out = base.out;
    std::vector<std::byte> saved;
    LLMRT_RETURN_IF_ERROR(rig.forward(out, saved));
    LLMRT_RETURN_IF_ERROR(rig.backward(problem.grad_out, saved, grads));
  }
  std::vector<HostTensor> twice = base.grads.params;
  for (HostTensor& t : twice) for (float& v : t.values) v *= 2;
  const SetDifference d = compare_sets(grads.params, twice, param_names(rig));
  if (twice.empty()) report.skip("accumulate", "the layer has no parameters");
  else report.verdict(d.worst.max_error <= kReorderTol, "accumulate",
                      d.worst.max_error <= kReorderTol
                          ? "two backward calls into one buffer give twice the parameter gradients (+=)"
                          : "parameter gradients must be accumulated (+=): after two backward calls expected twice "
                            "one call's, " + describe(d));
  return Status::success();
}

// A split backward: backward_input leaves the parameter gradients alone; backward_weight then
// adds them (onto gradients already there).
Status check_backward_split(LayerRig& rig, Problem& problem, const Baseline& base, CheckReport& report) {
  if (rig.fused()) {
    report.skip("backward_split", "a fused backward (LLMRT_LAYER_FUSED_BACKWARD): backward_input adds the parameter "
                                  "gradients itself; the gradient check and accumulate cover it");
    return Status::success();
  }
  if (rig.specs().empty()) {
    report.skip("backward_split", "the layer has no parameters");
    return Status::success();
  }
  std::vector<HostTensor> out = base.out;
  std::vector<std::byte> saved;
  LLMRT_RETURN_IF_ERROR(rig.forward(out, saved));
  Gradients grads = rig.fresh_gradients();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> spread(-1.f, 1.f);
  for (HostTensor& g : grads.params) for (float& v : g.values) v = spread(rng);
  const std::vector<HostTensor> before = grads.params;
  LLMRT_RETURN_IF_ERROR(rig.backward(problem.grad_out, saved, grads, BackwardPasses::kInputOnly));
  const SetDifference untouched = compare_sets(grads.params, before, param_names(rig));
  if (!untouched.bitwise_equal) {
    report.fail("backward_split", "backward_input changed the parameter gradients of a layer with a backward_weight "
                                  "(without LLMRT_LAYER_FUSED_BACKWARD they are backward_weight's): " + describe(untouched));
    return Status::success();
  }
  LLMRT_RETURN_IF_ERROR(rig.backward(problem.grad_out, saved, grads, BackwardPasses::kWeightOnly));
  std::vector<HostTensor> expected = before;
  for (std::size_t k = 0; k < expected.size(); ++k) {
    for (std::size_t i = 0; i < expected[k].values.size(); ++i) expected[k].values[i] += base.grads.params[k].values[i];
  }
  const SetDifference d = compare_sets(grads.params, expected, param_names(rig));
  report.verdict(d.worst.max_error <= kReorderTol, "backward_split",
                 d.worst.max_error <= kReorderTol
                     ? "backward_input leaves the parameter gradients alone; backward_weight then adds them onto "
                       "gradients already there"
                     : "backward_weight onto pre-filled gradients is not pre-filled + its gradients: " + describe(d));
  return Status::success();
}

// LLMRT_LAYER_RECOMPUTE_FULL: a second forward writes the same outputs and saved state, and
// the backward from the rerun's saved state gives the same gradients.
Status check_recompute_full(LayerRig& rig, Problem& problem, const Baseline& base, CheckReport& report) {
  if ((rig.component().layer().flags & LLMRT_LAYER_RECOMPUTE_FULL) == 0) {
    report.skip("recompute_full", "the layer does not declare LLMRT_LAYER_RECOMPUTE_FULL");
    return Status::success();
  }
  LLMRT_ASSIGN_OR_RETURN(std::vector<HostTensor> out, rig.fresh_outputs());
  std::vector<std::byte> saved;
  LLMRT_RETURN_IF_ERROR(rig.forward(out, saved));
  const bool same_out = compare_sets(out, base.out, output_name).bitwise_equal;
  const bool same_saved = saved == base.saved;
  Gradients grads = rig.fresh_gradients();
  LLMRT_RETURN_IF_ERROR(rig.backward(problem.grad_out, saved, grads));
  const SetDifference d = compare_sets(grads.params, base.grads.params, param_names(rig));
  const SetDifference din = compare_sets(grads.in, base.grads.in, grad_in_name);
  std::string problem_text;
  if (!same_out) problem_text = "the rerun's outputs differ";
  else if (!same_saved) problem_text = fmt::format("the rerun's saved state ({} bytes) differs", saved.size());
  else if (!d.bitwise_equal || !din.bitwise_equal) problem_text = "the backward from the rerun differs: " + describe(d.bitwise_equal ? din : d);
  report.verdict(problem_text.empty(), "recompute_full",
                 problem_text.empty() ? fmt::format("a second forward writes the same outputs and saved state ({} "
                                                    "bytes), and backward from it the same gradients", saved.size())
                                      : "LLMRT_LAYER_RECOMPUTE_FULL is declared, but " + problem_text);
  return Status::success();
}

// LLMRT_LAYER_RECOMPUTE_SELECTIVE: an instance created with recompute = SELECTIVE gives the
// gradients of one created with NONE, keeping no more saved state.
Status check_selective(const LayerTestSetup& setup, Problem& problem, const Baseline& base, CheckReport& report) {
  if ((setup.component->layer().flags & LLMRT_LAYER_RECOMPUTE_SELECTIVE) == 0) {
    report.skip("recompute_selective", "the layer does not declare LLMRT_LAYER_RECOMPUTE_SELECTIVE");
    return Status::success();
  }
  LLMRT_ASSIGN_OR_RETURN(LayerRig rig, LayerRig::create(*setup.component, *setup.config,
                                                        layer_context(0, 1, LLMRT_RECOMPUTE_SELECTIVE),
                                                        cpu_call_ctx(0, 1, nullptr)));
  LLMRT_RETURN_IF_ERROR(rig.bind(problem));
  LLMRT_ASSIGN_OR_RETURN(Baseline selective, run_once(rig, problem));
  SetDifference worst = compare_sets(selective.out, base.out, output_name);
  for (const SetDifference& d : {compare_sets(selective.grads.in, base.grads.in, grad_in_name),
                                 compare_sets(selective.grads.params, base.grads.params, param_names(rig))}) {
    if (!(d.worst.max_error <= worst.worst.max_error)) worst = d;
  }
  std::string detail = fmt::format("saved state {} bytes (none: {} bytes); outputs and gradients {}",
                                   rig.saved_bytes(), base.saved.size(),
                                   worst.worst.max_error == 0 ? "bitwise equal to recompute = none"
                                                              : "equal to none's within: " + describe(worst));
  const bool ok = worst.worst.max_error <= kReorderTol && rig.saved_bytes() <= base.saved.size();
  report.verdict(ok, "recompute_selective", ok ? detail : "selective must give none's gradients with no more saved "
                                                          "state: " + detail);
  return Status::success();
}

// The inputs infer_shapes accepts, global parameters and the loss weights r, from the seed.
Result<Problem> make_problem(LayerRig& rig, const LayerTestSetup& setup) {
  Problem problem;
  problem.batch = setup.batch, problem.seq = setup.seq;
  std::mt19937 rng(setup.seed);
  LLMRT_RETURN_IF_ERROR(rig.choose_inputs(problem, setup.width, setup.vocab, rng));
  for (const llmrt_param_spec& spec : rig.specs()) {
    problem.global_params.push_back(random_param(spec, rng));
    problem.param_names.emplace_back(spec.name);
  }
  LLMRT_RETURN_IF_ERROR(rig.bind(problem));
  LLMRT_ASSIGN_OR_RETURN(auto shapes, rig.output_shapes());
  std::uniform_real_distribution<float> spread(-1.f, 1.f);
  for (const auto& shape : shapes) {
    HostTensor r = HostTensor::zeros(shape);
    for (float& v : r.values) v = spread(rng);
    problem.grad_out.push_back(std::move(r));
  }
  return problem;
}

}  // namespace

std::span<const float> body(const HostTensor& tensor) {
  return std::span<const float>(tensor.values.data(), std::min(tensor.count(), tensor.values.size()));
}

llmrt_call_ctx cpu_call_ctx(int tp_rank, int tp_size, llmrt_comm* comm) {
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {LLMRT_DEVICE_CPU, 0};
  ctx.tp_comm = comm;
  ctx.tp_rank = tp_rank;
  ctx.tp_size = tp_size;
  return ctx;
}

llmrt_layer_context layer_context(int tp_rank, int tp_size, std::int32_t recompute) {
  return llmrt_layer_context{sizeof(llmrt_layer_context), tp_rank, tp_size, LLMRT_DTYPE_F32, 0, recompute};
}

Result<Baseline> run_once(LayerRig& rig, Problem& problem) {
  Baseline base;
  LLMRT_ASSIGN_OR_RETURN(base.out, rig.fresh_outputs());
  LLMRT_RETURN_IF_ERROR(rig.forward(base.out, base.saved));
  LLMRT_RETURN_IF_ERROR(run_backward(rig, problem, base));
  return base;
}

Status run_backward(LayerRig& rig, Problem& problem, Baseline& base) {
  base.grads = rig.fresh_gradients();
  std::vector<std::byte> saved = base.saved;  // backward may use its saved state as scratch
  return rig.backward(problem.grad_out, saved, base.grads);
}

Status run_layer_checks(const LayerTestSetup& setup, CheckReport& report) {
  LLMRT_ASSIGN_OR_RETURN(LayerRig rig, LayerRig::create(*setup.component, *setup.config,
                                                        layer_context(0, 1, LLMRT_RECOMPUTE_NONE),
                                                        cpu_call_ctx(0, 1, nullptr)));
  LLMRT_ASSIGN_OR_RETURN(Problem problem, make_problem(rig, setup));
  // Forward alone first: a backward trusting a wrong declared shape may write past its buffers.
  Baseline base;
  LLMRT_ASSIGN_OR_RETURN(base.out, rig.fresh_outputs());
  LLMRT_RETURN_IF_ERROR(rig.forward(base.out, base.saved));
  if (!check_shapes(base, report)) return Status::success();  // the rest would read unwritten outputs
  LLMRT_RETURN_IF_ERROR(run_backward(rig, problem, base));
  if (!check_gradient_bounds(base, rig, report)) return Status::success();
  check_finite(base, rig, report);
  LLMRT_RETURN_IF_ERROR(check_determinism(rig, problem, base, report));
  LLMRT_RETURN_IF_ERROR(check_gradients(rig, problem, base, setup.seed, report));
  LLMRT_RETURN_IF_ERROR(check_grad_in_written(rig, problem, base, report));
  LLMRT_RETURN_IF_ERROR(check_accumulation(rig, problem, base, report));
  LLMRT_RETURN_IF_ERROR(check_backward_split(rig, problem, base, report));
  LLMRT_RETURN_IF_ERROR(check_recompute_full(rig, problem, base, report));
  LLMRT_RETURN_IF_ERROR(check_selective(setup, problem, base, report));
  if (setup.dtype == LLMRT_DTYPE_BF16) LLMRT_RETURN_IF_ERROR(check_bf16(setup, problem, report));
  if (setup.tp_size > 1) return check_tensor_parallel(setup, problem, base, report);
  report.skip("tensor_parallel", "tp = 1; run `mpirun -np 2 llmrt plugins test NAME --tp 2` for tp = 2 against tp = 1");
  return Status::success();
}

}  // namespace llmrt::plugtest
