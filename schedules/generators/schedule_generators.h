// The built-in pipeline schedules as plain algorithms: each returns one pipeline rank's
// action list. Uses nothing but the SDK (<llmrt/schedule_shape.hpp>: llmrt_action and the
// step's shape), so schedule plugins compile it as is and runtime/schedule never includes it.
#pragma once

#include <vector>

#include <llmrt/action.h>
#include <llmrt/schedule_shape.hpp>

namespace llmrt {

// Each check_*_shape returns nullptr when the schedule can be built for `shape`, else a
// static sentence saying why not (plugins turn it into their own status; no runtime here).
// The *_actions functions return an empty list for a shape their check rejects or a rank
// outside [0, p).
//
// Conventions every generator follows (the verifier and the executor rely on them):
// - compute actions have peer_rank -1; every transfer is an explicit SEND/RECV with the
//   peer's pipeline rank (virtual stage s lives on rank s % p, chunk s / p);
// - a receive sits just before the compute that consumes it, a send just after the
//   compute that produces it (the executor posts receives early on its own).

// GPipe: all forwards, then all backwards (each B immediately followed by its W; the
// input gradient is sent after both, as a fused backward would). Peak in flight: m.
const char* check_gpipe_shape(const ScheduleShape& shape);
std::vector<llmrt_action> gpipe_actions(const ScheduleShape& shape, int rank);

// 1F1B (PipeDream-Flush): p-1-rank warm-up forwards, then one forward / one backward,
// then the remaining backwards. Backward as in GPipe. Peak in flight: min(p - rank, m).
const char* check_one_f_one_b_shape(const ScheduleShape& shape);
std::vector<llmrt_action> one_f_one_b_actions(const ScheduleShape& shape, int rank);

// Megatron's interleaved 1F1B: v chunks per rank, microbatches taken in groups of p,
// chunks cycled per group. Needs m % p == 0. Bubble (p-1)/(v·m) of the ideal time.
const char* check_interleaved_1f1b_shape(const ScheduleShape& shape);
std::vector<llmrt_action> interleaved_1f1b_actions(const ScheduleShape& shape, int rank);

// Zero-bubble ZB-H1 (Qi et al. 2023): the forwards and input-backwards (B) of 1F1B in the
// same order, so the same count of microbatches between F and B, with weight-backwards (W)
// deferred into the slots where the rank would otherwise wait, while no rank holds more
// than p microbatches between F and W (1F1B's peak). The gradient is sent right after B.
// Bubble per rank with equal pass times: (p-1)(F+B-W), a third of 1F1B's (p-1)(F+B+W).
const char* check_zb_h1_shape(const ScheduleShape& shape);
std::vector<llmrt_action> zb_h1_actions(const ScheduleShape& shape, int rank);

}  // namespace llmrt
