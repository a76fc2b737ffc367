// The schedule verifier: shape checks, well-formed actions, matched transfers and a
// deadlock-free run of all ranks together (per-rank pass order is in verifier_order.cpp).
#include "schedule/verifier.h"

#include <map>

#include <fmt/format.h>

#include "schedule/schedule_messages.h"
#include "schedule/schedule_run.h"
#include "schedule/verifier_findings.h"

namespace llmrt {

namespace {

const char* kind_name(int kind) {
  switch (kind) {
    case LLMRT_ACTION_FORWARD: return "FORWARD";
    case LLMRT_ACTION_BACKWARD_INPUT: return "BACKWARD_INPUT";
    case LLMRT_ACTION_BACKWARD_WEIGHT: return "BACKWARD_WEIGHT";
    case LLMRT_ACTION_SEND_ACTIVATION: return "SEND_ACTIVATION";
    case LLMRT_ACTION_RECV_ACTIVATION: return "RECV_ACTIVATION";
    case LLMRT_ACTION_SEND_GRADIENT: return "SEND_GRADIENT";
    case LLMRT_ACTION_RECV_GRADIENT: return "RECV_GRADIENT";
    default: return nullptr;
  }
}

// The neighbouring virtual stage a transfer action talks to: +1 for activations out and
// gradients in, -1 for activations in and gradients out.
int transfer_direction(int kind) {
  return kind == LLMRT_ACTION_SEND_ACTIVATION || kind == LLMRT_ACTION_RECV_GRADIENT ? +1 : -1;
}

// Why a transfer action's peer is wrong for the virtual-stage map, or "" when it is right.
std::string check_transfer_peer(const ScheduleShape& shape, int rank, const llmrt_action& a) {
  const int stage = virtual_stage_of(shape, rank, a.chunk);
  const int neighbour = stage + transfer_direction(a.kind);
  if (neighbour < 0 || neighbour >= virtual_stage_count(shape)) {
    return fmt::format("virtual stage {} is the {} stage: nothing crosses that end", stage,
                       neighbour < 0 ? "first" : "last");
  }
  const int owner = owner_of_stage(shape, neighbour);
  if (owner == rank) {
    return fmt::format("virtual stage {} is on this rank too: no transfer belongs here", neighbour);
  }
  if (a.peer_rank != owner) {
    return fmt::format("peer must be rank {} (owner of virtual stage {}), not rank {}", owner,
                       neighbour, a.peer_rank);
  }
  return "";
}

// Why one action is malformed, or "" when it is well formed.
std::string check_action(const ScheduleShape& shape, int rank, const llmrt_action& a) {
  if (!kind_name(a.kind)) return fmt::format("unknown action kind {}", a.kind);
  if (a.microbatch < 0 || a.microbatch >= shape.microbatches) {
    return fmt::format("microbatch {} outside [0, {})", a.microbatch, shape.microbatches);
  }
  if (a.chunk < 0 || a.chunk >= shape.virtual_stages) {
    return fmt::format("chunk {} outside [0, {})", a.chunk, shape.virtual_stages);
  }
  if (is_compute(a.kind)) {
    return a.peer_rank == -1
               ? ""
               : fmt::format("compute action has peer_rank {} (must be -1)", a.peer_rank);
  }
  return check_transfer_peer(shape, rank, a);
}

std::string describe_blocked_peer(const std::vector<BlockedRank>& blocked,
                                  const std::vector<std::vector<llmrt_action>>& per_rank,
                                  int peer) {
  for (const BlockedRank& other : blocked) {
    if (other.rank == peer) {
      return fmt::format("rank {}, itself blocked at action {} ({})", peer, other.index,
                         describe_action(per_rank[peer][other.index]));
    }
  }
  return fmt::format("rank {}, which ran to its end without sending it", peer);
}

}  // namespace

std::string describe_action(const llmrt_action& action) {
  const char* name = kind_name(action.kind);
  std::string text =
      name ? fmt::format("{} mb {} chunk {}", name, action.microbatch, action.chunk)
           : fmt::format("kind {} mb {} chunk {}", action.kind, action.microbatch, action.chunk);
  if (is_send(action.kind)) return fmt::format("{} to rank {}", text, action.peer_rank);
  if (is_receive(action.kind)) return fmt::format("{} from rank {}", text, action.peer_rank);
  return text;
}

void VerifierFindings::add(int rank, size_t index, std::string what) {
  if (!first_[rank] || index < first_[rank]->index) first_[rank] = Finding{index, std::move(what)};
}

bool VerifierFindings::empty() const {
  for (const auto& finding : first_) {
    if (finding) return false;
  }
  return true;
}

Error VerifierFindings::to_error(const ScheduleShape& shape, std::string_view title) const {
  std::string message = fmt::format("{} in pipeline schedule (p={}, m={}, v={}):", title,
                                    shape.stages, shape.microbatches, shape.virtual_stages);
  for (size_t rank = 0; rank < first_.size(); ++rank) {
    if (!first_[rank]) continue;
    const auto& actions = per_rank_[rank];
    const size_t index = first_[rank]->index;
    const std::string where =
        index < actions.size()
            ? fmt::format("action {} ({})", index, describe_action(actions[index]))
            : fmt::format("end of list ({} actions)", actions.size());
    message += fmt::format("\n  rank {}, {}: {}", rank, where, first_[rank]->what);
  }
  return input_error("{}", message);
}

void check_well_formed(const ScheduleShape& shape,
                       const std::vector<std::vector<llmrt_action>>& per_rank,
                       VerifierFindings& findings) {
  for (int rank = 0; rank < static_cast<int>(per_rank.size()); ++rank) {
    for (size_t i = 0; i < per_rank[rank].size() && !findings.has(rank); ++i) {
      std::string problem = check_action(shape, rank, per_rank[rank][i]);
      if (!problem.empty()) findings.add(rank, i, std::move(problem));
    }
  }
}

void check_transfers_match(const ScheduleShape& shape,
                           const std::vector<std::vector<llmrt_action>>& per_rank,
                           VerifierFindings& findings) {
  struct Ends {
    std::vector<std::pair<int, size_t>> sends, receives;  // (rank, index)
  };
  std::map<MessageKey, Ends> transfers;
  for (int rank = 0; rank < static_cast<int>(per_rank.size()); ++rank) {
    for (size_t i = 0; i < per_rank[rank].size(); ++i) {
      const llmrt_action& a = per_rank[rank][i];
      if (is_send(a.kind)) transfers[message_key(shape, rank, a)].sends.push_back({rank, i});
      if (is_receive(a.kind)) transfers[message_key(shape, rank, a)].receives.push_back({rank, i});
    }
  }
  for (const auto& [key, ends] : transfers) {
    // Duplicates on one rank are the pass-order check's to report; here only what is
    // missing on the other side.
    if (ends.receives.empty()) {
      for (auto [rank, i] : ends.sends) {
        findings.add(rank, i,
                     fmt::format("never received (rank {} posts no matching receive)", key.to));
      }
    }
    if (ends.sends.empty()) {
      for (auto [rank, i] : ends.receives) {
        findings.add(rank, i, fmt::format("never sent (rank {} posts no matching send)", key.from));
      }
    }
  }
}

void check_no_deadlock(const ScheduleShape& shape,
                       const std::vector<std::vector<llmrt_action>>& per_rank,
                       VerifierFindings& findings) {
  const std::vector<BlockedRank> blocked = run_action_lists(shape, per_rank, [](int, size_t) {});
  for (const BlockedRank& b : blocked) {
    findings.add(b.rank, b.index,
                 fmt::format("waits forever for {}",
                             describe_blocked_peer(blocked, per_rank, b.waits_for.from)));
  }
}

Result<ScheduleReport> verify_schedule(const ScheduleShape& shape,
                                       const std::vector<std::vector<llmrt_action>>& per_rank) {
  if (shape.stages < 1 || shape.microbatches < 1 || shape.virtual_stages < 1) {
    return input_error("pipeline schedule shape p={}, m={}, v={}: all must be at least 1",
                       shape.stages, shape.microbatches, shape.virtual_stages);
  }
  if (per_rank.size() != static_cast<size_t>(shape.stages)) {
    return input_error("pipeline schedule has {} action lists for {} pipeline ranks",
                       per_rank.size(), shape.stages);
  }
  VerifierFindings malformed(per_rank);
  check_well_formed(shape, per_rank, malformed);
  if (!malformed.empty()) return malformed.to_error(shape, "malformed actions");

  ScheduleReport report;
  VerifierFindings incomplete(per_rank);
  check_pass_order(shape, per_rank, incomplete, report.peak_in_flight,
                   report.peak_pending_weight_grads);
  check_transfers_match(shape, per_rank, incomplete);
  if (!incomplete.empty())
    return incomplete.to_error(shape, "missing, repeated or misordered actions");

  VerifierFindings stuck(per_rank);
  check_no_deadlock(shape, per_rank, stuck);
  if (!stuck.empty()) return stuck.to_error(shape, "deadlock");
  return report;
}

}  // namespace llmrt
