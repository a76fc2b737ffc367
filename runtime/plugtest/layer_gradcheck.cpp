// The central-difference gradient check of `llmrt plugins test`.
//
// The loss is L = sum_i r_i * out_i over every output element, r fixed and random in [-1, 1],
// so backward gets grad_out = r and dL/dz is what backward_input / backward_weight must give
// for each input or parameter element z. A point is checked by moving z to z ± h and running
// forward again: fd = (L(z+h) - L(z-h)) / (z+h - z-h), with the step actually representable in
// fp32 in the denominator, and L summed in double.
//
// Why h = 1e-2 * max(1, |z|) and a tolerance of 1e-2: the layer computes in fp32 (no fp64
// twin exists for a plugin), so L carries the outputs' rounding: each out_i within a few ulps,
// |dL| <= kUlps * 2^-24 * S with S = sum |r_i out_i|. Divided by 2h that is the rounding part of
// fd's error, added to the allowance below (it grows with the layer's size: ~1e-5 of the
// gradient for the default shapes). Truncation is h^2/6 * |d3L/dz3| ~ 2e-5 for smooth layers
// with O(1) inputs. Both sit well below 1e-2 * (|g_i| + rms(g)), which any wrong term (a
// missing factor, a dropped path, a transposed index) exceeds: those are O(1) errors.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "plugtest/layer_suite.h"

namespace llmrt::plugtest {
namespace {

constexpr double kStep = 1e-2;
constexpr double kTolerance = 1e-2;
constexpr double kUlps = 16;                 // rounding of one output, in units of 2^-24 of S
constexpr double kFp32Unit = 5.9604645e-8;  // 2^-24
constexpr std::size_t kPoints = 12;          // per tensor: the largest analytic entries and as many random ones

// L = sum r_i out_i in double, and S = sum |r_i out_i| (the scale of its rounding).
std::pair<double, double> weighted_loss(const std::vector<HostTensor>& out, const std::vector<HostTensor>& r) {
  double loss = 0, scale = 0;
  for (std::size_t k = 0; k < out.size(); ++k) {
    const auto values = body(out[k]);
    for (std::size_t i = 0; i < values.size(); ++i) {
      loss += static_cast<double>(values[i]) * r[k].values[i];
      scale += std::fabs(static_cast<double>(values[i]) * r[k].values[i]);
    }
  }
  return {loss, scale};
}

// Half the points where |analytic| is largest (a wrong factor shows most there), half random.
std::vector<std::size_t> pick_points(std::span<const float> analytic, std::mt19937& rng) {
  std::vector<std::size_t> order(analytic.size());
  std::iota(order.begin(), order.end(), 0);
  if (order.size() <= kPoints) return order;
  std::partial_sort(order.begin(), order.begin() + kPoints / 2, order.end(),
                    [&](std::size_t a, std::size_t b) { return std::fabs(analytic[a]) > std::fabs(analytic[b]); });
  std::vector<std::size_t> points(order.begin(), order.begin() + kPoints / 2);
  std::shuffle(order.begin() + kPoints / 2, order.end(), rng);
  points.insert(points.end(), order.begin() + kPoints / 2, order.begin() + kPoints);
  return points;
}

struct PointResult {
  std::size_t index = 0;
  double analytic = 0, numeric = 0, error = 0, allowed = 1;
};

// Checks `analytic` against differences of the loss through `value` (an input or parameter).
Result<PointResult> worst_point(LayerRig& rig, Problem& problem, std::vector<float>& value,
                                std::span<const float> analytic, double rounding, std::mt19937& rng, int& failures) {
  LLMRT_ASSIGN_OR_RETURN(std::vector<HostTensor> out, rig.fresh_outputs());
  std::vector<std::byte> saved;
  auto loss_at = [&](float z, std::size_t i) -> Result<double> {
    value[i] = z;
    LLMRT_RETURN_IF_ERROR(rig.forward(out, saved));
    return weighted_loss(out, problem.grad_out).first;
  };
  const double scale = rms(analytic);
  PointResult worst;
  worst.allowed = 0;
  for (std::size_t i : pick_points(analytic, rng)) {
    const float z = value[i];
    const double h = kStep * std::max(1.0, std::fabs(static_cast<double>(z)));
    const float up = static_cast<float>(z + h), down = static_cast<float>(z - h);
    LLMRT_ASSIGN_OR_RETURN(const double l_up, loss_at(up, i));
    LLMRT_ASSIGN_OR_RETURN(const double l_down, loss_at(down, i));
    value[i] = z;
    const double numeric = (l_up - l_down) / (static_cast<double>(up) - static_cast<double>(down));
    PointResult point{i, analytic[i], numeric, std::fabs(numeric - analytic[i]),
                      kTolerance * (std::fabs(analytic[i]) + scale) + rounding / (up - down) + 1e-30};
    if (!(point.error <= point.allowed)) ++failures;
    if (worst.allowed == 0 || !(point.error / point.allowed <= worst.error / worst.allowed)) worst = point;
  }
  return worst;
}

void report_point(CheckReport& report, const std::string& name, const std::string& what, const PointResult& p,
                  int failures, std::size_t points) {
  const double share = p.error / p.allowed;
  if (failures == 0) {
    report.pass(name, fmt::format("{} points of {} agree with central differences; worst at element {}: analytic "
                                  "{:.6g}, finite difference {:.6g} ({:.1f}% of the allowed error)",
                                  points, what, p.index, p.analytic, p.numeric, 100 * share));
    return;
  }
  report.fail(name, fmt::format("{} of {} points of {} differ from central differences; worst at element {}: "
                                "backward gives {:.6g}, the finite difference {:.6g} (abs error {:.3g}, {:.0f} times "
                                "the allowed {:.3g})", failures, points, what, p.index, p.analytic, p.numeric, p.error,
                                share, p.allowed));
}

}  // namespace

Status check_gradients(LayerRig& rig, Problem& problem, const Baseline& base, unsigned seed, CheckReport& report) {
  std::mt19937 rng(seed + 1);
  const double rounding = 2 * kUlps * kFp32Unit * weighted_loss(base.out, problem.grad_out).second;
  if (base.grads.in.empty()) {
    report.skip("gradient_input", "the input is token ids: no input gradient");
  } else {
    int failures = 0;
    const auto analytic = body(base.grads.in[0]);
    LLMRT_ASSIGN_OR_RETURN(const PointResult p, worst_point(rig, problem, rig.inputs()[0].values, analytic, rounding,
                                                            rng, failures));
    report_point(report, "gradient_input", "the gradient w.r.t. the input", p, failures,
                 std::min(kPoints, analytic.size()));
  }
  for (std::size_t k = 0; k < rig.specs().size(); ++k) {
    int failures = 0;
    const auto analytic = body(base.grads.params[k]);
    LLMRT_ASSIGN_OR_RETURN(const PointResult p, worst_point(rig, problem, rig.params()[k].values, analytic, rounding,
                                                            rng, failures));
    const std::string name = rig.specs()[k].name;
    report_point(report, "gradient_param." + name, "the gradient of '" + name + "'", p, failures,
                 std::min(kPoints, analytic.size()));
  }
  return Status::success();
}

}  // namespace llmrt::plugtest
