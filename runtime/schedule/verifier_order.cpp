// The verifier's per-rank check: every (microbatch, chunk) runs F, B and W exactly once,
// in order, each after its input arrived; and the activation / pending-W peaks on the way.
#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "schedule/schedule_messages.h"
#include "schedule/verifier_findings.h"

namespace llmrt {

namespace {

// What has happened so far to one (microbatch, chunk) on one rank.
struct PassState {
  bool forward = false;
  bool input_backward = false;
  bool weight_backward = false;
  bool activation_in = false;
  bool gradient_in = false;
  bool activation_out = false;
  bool gradient_out = false;
};

class RankOrderCheck {
 public:
  RankOrderCheck(const ScheduleShape& shape, int rank)
      : shape_(shape),
        rank_(rank),
        states_(static_cast<size_t>(shape.microbatches) * shape.virtual_stages) {}

  // Why `a` cannot come next on this rank, or "" (and then `a` is applied).
  std::string apply(const llmrt_action& a);
  // What the list left out once it ended, or "".
  std::string missing() const;

  int peak_in_flight = 0;
  int peak_pending_weight = 0;

 private:
  PassState& state(int mb, int chunk) { return states_[mb * shape_.virtual_stages + chunk]; }
  const PassState& state(int mb, int chunk) const {
    return states_[mb * shape_.virtual_stages + chunk];
  }
  bool is_first_stage(int chunk) const { return virtual_stage_of(shape_, rank_, chunk) == 0; }
  bool is_last_stage(int chunk) const {
    return virtual_stage_of(shape_, rank_, chunk) == virtual_stage_count(shape_) - 1;
  }
  // With p > 1 neighbouring virtual stages always live on other ranks; with p == 1 all
  // chunks are here and hand over in memory.
  bool neighbours_remote() const { return shape_.stages > 1; }
  std::string apply_forward(const llmrt_action& a, PassState& st);
  std::string apply_input_backward(const llmrt_action& a, PassState& st);

  ScheduleShape shape_;
  int rank_;
  std::vector<PassState> states_;  // [mb * v + chunk]
  int in_flight_ = 0;
  int pending_weight_ = 0;
};

std::string RankOrderCheck::apply_forward(const llmrt_action& a, PassState& st) {
  if (st.forward) return "forward of this microbatch and chunk already ran";
  if (!is_first_stage(a.chunk)) {
    if (neighbours_remote() && !st.activation_in) {
      return "forward before its activation was received";
    }
    if (!neighbours_remote() && !state(a.microbatch, a.chunk - 1).forward) {
      return fmt::format("forward before chunk {}'s forward made its input", a.chunk - 1);
    }
  }
  st.forward = true;
  peak_in_flight = std::max(peak_in_flight, ++in_flight_);
  return "";
}

std::string RankOrderCheck::apply_input_backward(const llmrt_action& a, PassState& st) {
  if (st.input_backward) return "input backward of this microbatch and chunk already ran";
  if (!st.forward) return "input backward before its forward";
  if (!is_last_stage(a.chunk)) {
    if (neighbours_remote() && !st.gradient_in) {
      return "input backward before its gradient was received";
    }
    if (!neighbours_remote() && !state(a.microbatch, a.chunk + 1).input_backward) {
      return fmt::format("input backward before chunk {}'s input backward made its gradient",
                         a.chunk + 1);
    }
  }
  st.input_backward = true;
  --in_flight_;
  peak_pending_weight = std::max(peak_pending_weight, ++pending_weight_);
  return "";
}

std::string RankOrderCheck::apply(const llmrt_action& a) {
  PassState& st = state(a.microbatch, a.chunk);
  switch (a.kind) {
    case LLMRT_ACTION_FORWARD: return apply_forward(a, st);
    case LLMRT_ACTION_BACKWARD_INPUT: return apply_input_backward(a, st);
    case LLMRT_ACTION_BACKWARD_WEIGHT:
      if (st.weight_backward) return "weight backward of this microbatch and chunk already ran";
      if (!st.input_backward) return "weight backward before its input backward";
      st.weight_backward = true;
      --pending_weight_;
      return "";
    case LLMRT_ACTION_SEND_ACTIVATION:
      if (st.activation_out) return "activation sent twice";
      if (!st.forward) return "activation sent before its forward made it";
      st.activation_out = true;
      return "";
    case LLMRT_ACTION_SEND_GRADIENT:
      if (st.gradient_out) return "gradient sent twice";
      if (!st.input_backward) return "gradient sent before its input backward made it";
      st.gradient_out = true;
      return "";
    case LLMRT_ACTION_RECV_ACTIVATION:
      if (st.activation_in) return "activation received twice";
      st.activation_in = true;
      return "";
    default:  // LLMRT_ACTION_RECV_GRADIENT: kinds were checked before
      if (st.gradient_in) return "gradient received twice";
      st.gradient_in = true;
      return "";
  }
}

std::string RankOrderCheck::missing() const {
  for (int mb = 0; mb < shape_.microbatches; ++mb) {
    for (int chunk = 0; chunk < shape_.virtual_stages; ++chunk) {
      const PassState& st = state(mb, chunk);
      const bool remote_before = neighbours_remote() && !is_first_stage(chunk);
      const bool remote_after = neighbours_remote() && !is_last_stage(chunk);
      const char* absent = !st.forward                          ? "FORWARD"
                           : !st.input_backward                 ? "BACKWARD_INPUT"
                           : !st.weight_backward                ? "BACKWARD_WEIGHT"
                           : remote_after && !st.gradient_in    ? "RECV_GRADIENT"
                           : remote_after && !st.activation_out ? "SEND_ACTIVATION"
                           : remote_before && !st.gradient_out  ? "SEND_GRADIENT"
                                                                : nullptr;
      if (absent) return fmt::format("no {} for mb {} chunk {}", absent, mb, chunk);
    }
  }
  return "";
}

}  // namespace

void check_pass_order(const ScheduleShape& shape,
                      const std::vector<std::vector<llmrt_action>>& per_rank,
                      VerifierFindings& findings, std::vector<int>& peak_in_flight,
                      std::vector<int>& peak_pending_weight_grads) {
  peak_in_flight.assign(per_rank.size(), 0);
  peak_pending_weight_grads.assign(per_rank.size(), 0);
  for (int rank = 0; rank < static_cast<int>(per_rank.size()); ++rank) {
    RankOrderCheck check(shape, rank);
    const auto& actions = per_rank[rank];
    std::string problem;
    size_t i = 0;
    for (; i < actions.size() && problem.empty(); ++i) problem = check.apply(actions[i]);
    if (!problem.empty()) {
      findings.add(rank, i - 1, std::move(problem));
    } else if (std::string absent = check.missing(); !absent.empty()) {
      findings.add(rank, actions.size(), std::move(absent));
    }
    peak_in_flight[rank] = check.peak_in_flight;
    peak_pending_weight_grads[rank] = check.peak_pending_weight;
  }
}

}  // namespace llmrt
