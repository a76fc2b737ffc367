// Fault injection FOR TESTING ONLY: makes one rank stall or die at a chosen step, so tests
// can prove the watchdog stops the whole job (exit 3) instead of hanging; or overflow its
// gradients, so tests can prove fp16's loss scaler skips exactly that step.
#pragma once

#include <cstdint>
#include <string_view>

#include "util/status.h"

namespace llmrt::obs {

struct FaultInjection {
  enum class Mode { kStall, kExit, kOverflow, kKill, kCheckpointKill };
  int rank = -1;           // world rank that misbehaves
  std::int64_t step = -1;  // at the start of this step
  Mode mode = Mode::kStall;
};

// Parses "RANK:STEP:stall|exit|overflow|kill|ckpt-kill", e.g. "1:2:stall". Errors are kInput and show the format.
Result<FaultInjection> parse_fault_injection(std::string_view text);

// On the chosen rank at the chosen step: kStall sleeps forever (a rank stuck in compute);
// kExit calls _exit(1) (a crash: no MPI_Finalize, no destructors); kKill SIGKILLs the process
// (kill -9 in the middle of a run). Elsewhere, and for kOverflow (which the trainer acts on: an
// inf in that step's gradients) and kCheckpointKill (the checkpoint writer dies halfway through
// writing the file of the checkpoint taken after that step), returns.
void maybe_inject_fault(const FaultInjection& fault, int world_rank, std::int64_t step);

}  // namespace llmrt::obs
