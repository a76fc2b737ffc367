// The order of messages on each pipeline link. MPI matches a message by tag, so any verified
// schedule runs over it; NCCL matches the messages of a communicator by their order alone, so
// the pipeline's NCCL path (comm/pipeline_links.h, one communicator per directed link) needs
// more: on each directed link a → b, rank a's sends in the order of its list are the very
// messages rank b receives in the order of its list. Pure; every rank checks every list.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <llmrt/action.h>
#include <llmrt/schedule_shape.hpp>

namespace llmrt {

// The directed links (sender, receiver) between neighbouring pipeline ranks of a pipeline of
// `size`: r → r+1 and r → r−1 modulo size (the wrap-around carries interleaved chunks), each
// once, in one order (the order every rank creates their communicators in). Empty for size 1.
std::vector<std::pair<int, int>> pipeline_link_pairs(int size);

// "" when every link's sends and receives are in the same order on both ends; else the first
// link that is not, e.g. "link 0 → 1, message 2: rank 0 sends SEND_ACTIVATION mb 3 chunk 0 to
// rank 1, rank 1 receives RECV_ACTIVATION mb 2 chunk 0 from rank 0". per_rank: a verified
// schedule's lists (verify_schedule proved every send has its receive).
std::string link_order_mismatch(const ScheduleShape& shape, const std::vector<std::vector<llmrt_action>>& per_rank);

}  // namespace llmrt
