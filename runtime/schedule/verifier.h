// Proves, before step 0, that all ranks' action lists form one pipeline step that can
// run: transfers pair up, nothing waits forever, every pass runs once in order.
#pragma once

#include <string>
#include <vector>

#include <llmrt/action.h>
#include <llmrt/schedule_shape.hpp>

#include "util/status.h"

namespace llmrt {

// Execution semantics the lists are checked against (the executor and the simulator
// implement the same):
// - each rank runs its list in order, one action at a time;
// - a send never blocks: it is buffered and the rank moves on at once;
// - a receive blocks until the matching send has been issued;
// - a send and a receive match on (sender rank, receiver rank, activation or gradient,
//   microbatch, sender's virtual stage). Virtual stage of (rank r, chunk c) is c*p + r;
//   an activation of stage s goes to the owner of s+1, a gradient of s to the owner of s-1;
//   the first virtual stage receives no activation and sends no gradient, the last sends
//   no activation and receives no gradient.
//
// What is proved:
// 1. every action is well formed (kind, microbatch, chunk, and a peer_rank that the
//    virtual-stage map gives for a transfer, -1 for compute);
// 2. per rank: every (microbatch, chunk) has exactly one F, B and W, F < B <= W; F after
//    its activation arrived (the receive, or with p == 1 the previous chunk's F on this
//    rank); B after its gradient arrived likewise; each send after the pass producing it;
// 3. every send has exactly one matching receive and every receive one matching send;
// 4. running all lists together under the semantics above, every rank reaches its end.
// Checks stop after the first group that fails; within a group the FIRST offending action
// of EACH rank is reported, e.g.
//   "rank 2, action 17 (RECV_GRADIENT mb 3 chunk 0 from rank 3): never sent".
struct ScheduleReport {
  // [rank] most (microbatch, chunk) pairs with F done and B not yet done at once: the
  // activations the rank must hold.
  std::vector<int> peak_in_flight;
  // [rank] most (microbatch, chunk) pairs with B done and W not yet done at once.
  std::vector<int> peak_pending_weight_grads;
};

// per_rank[r] is pipeline rank r's list; there must be shape.stages of them.
Result<ScheduleReport> verify_schedule(const ScheduleShape& shape,
                                       const std::vector<std::vector<llmrt_action>>& per_rank);

// "FORWARD mb 3 chunk 0", "SEND_ACTIVATION mb 3 chunk 1 to rank 2",
// "RECV_GRADIENT mb 3 chunk 0 from rank 3".
std::string describe_action(const llmrt_action& action);

}  // namespace llmrt
