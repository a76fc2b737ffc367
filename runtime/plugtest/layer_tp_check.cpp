// tp = N against tp = 1: every rank runs the layer on its tp slice of the same global
// parameters and compares what it computes with the tp = 1 run it made itself.
#include <cmath>

#include <fmt/format.h>

#include "exec/param_store.h"
#include "plugtest/layer_suite.h"

namespace llmrt::plugtest {
namespace {

// Sums in another order (a row-parallel matmul adds N partial sums): a few ulps of the
// terms, far below what a wrong slice or a missing all-reduce gives (O(1)).
constexpr double kTpTol = 1e-4;

struct Worst {
  double error = 0;
  std::string text;
  void take(const Difference& d, const std::string& what) {
    if (text.empty() || !(d.max_error <= error)) error = d.max_error, text = what + ": " + describe(d);
  }
};

Worst compare_with_tp1(const LayerRig& rig, const Baseline& tp, const Baseline& base, const Problem& problem,
                       int tp_rank, int tp_size) {
  Worst worst;
  for (std::size_t k = 0; k < base.out.size() && k < tp.out.size(); ++k) {
    worst.take(compare(body(tp.out[k]), body(base.out[k])), fmt::format("output {}", k));
  }
  for (std::size_t k = 0; k < base.grads.in.size() && k < tp.grads.in.size(); ++k) {
    worst.take(compare(body(tp.grads.in[k]), body(base.grads.in[k])), "gradient w.r.t. the input");
  }
  for (std::size_t k = 0; k < rig.specs().size(); ++k) {
    const llmrt_param_spec& spec = rig.specs()[k];
    const auto full = body(base.grads.params[k]);
    const std::vector<float> global(full.begin(), full.end());
    const std::vector<float> want = spec.shard_dim == LLMRT_NO_SHARD
                                        ? global
                                        : slice_along(global, problem.global_params[k].shape,
                                                      spec.shard_dim, tp_rank, tp_size);
    worst.take(compare(body(tp.grads.params[k]), want),
               fmt::format("gradient of '{}'{}", spec.name,
                           spec.shard_dim == LLMRT_NO_SHARD ? " (replicated)"
                                                            : fmt::format(" (slice {} of dimension {})", tp_rank,
                                                                          spec.shard_dim)));
  }
  return worst;
}

}  // namespace

Status check_tensor_parallel(const LayerTestSetup& setup, const Problem& problem, const Baseline& base,
                             CheckReport& report) {
  const std::string name = "tensor_parallel";
  LLMRT_ASSIGN_OR_RETURN(LayerRig rig, LayerRig::create(*setup.component, *setup.config,
                                                        layer_context(setup.tp_rank, setup.tp_size, LLMRT_RECOMPUTE_NONE),
                                                        cpu_call_ctx(setup.tp_rank, setup.tp_size, setup.tp_comm)));
  LLMRT_RETURN_IF_ERROR(rig.bind(problem));
  Problem local = problem;
  LLMRT_ASSIGN_OR_RETURN(auto shapes, rig.output_shapes());
  std::string mismatch;
  for (std::size_t k = 0; k < shapes.size() && k < base.out.size(); ++k) {
    if (shapes[k] != base.out[k].shape && mismatch.empty()) {
      mismatch = fmt::format("on tp rank {} of {}, infer_shapes gives output {} the shape ({}), at tp = 1 ({})",
                             setup.tp_rank, setup.tp_size, k, fmt::join(shapes[k], ", "),
                             fmt::join(base.out[k].shape, ", "));
    }
  }
  // Every rank stops here together (the run below is collective).
  if (setup.world->max(mismatch.empty() ? 0.0 : 1.0) > 0) {
    report.fail(name, mismatch.empty() ? "infer_shapes differs on another tp rank" : mismatch);
    return Status::success();
  }
  LLMRT_ASSIGN_OR_RETURN(Baseline tp, run_once(rig, local));
  const Worst worst = compare_with_tp1(rig, tp, base, problem, setup.tp_rank, setup.tp_size);
  // One verdict for the group: the worst rank's.
  const std::vector<double> errors = setup.world->gather(worst.error);
  const std::vector<std::string> texts = setup.world->gather(worst.text);
  std::size_t worst_rank = 0;
  for (std::size_t r = 1; r < errors.size(); ++r) {
    if (!(errors[r] <= errors[worst_rank])) worst_rank = r;
  }
  const bool ok = setup.world->max(worst.error) <= kTpTol;  // every rank records the verdict; rank 0 prints it
  report.verdict(ok, name, setup.world->rank() != 0 ? std::string() : fmt::format(
      "tp = {} on {} ranks against tp = 1, outputs, input gradient and each rank's parameter-gradient slices; worst "
      "on tp rank {}: {}{}", setup.tp_size, errors.size(), worst_rank, texts[worst_rank],
      ok ? "" : fmt::format(" (allowed {:.0e})", kTpTol)));
  return Status::success();
}

}  // namespace llmrt::plugtest
