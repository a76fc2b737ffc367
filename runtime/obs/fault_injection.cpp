// Test-only fault injection (see fault_injection.h).
#include "obs/fault_injection.h"

#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdio>

namespace llmrt::obs {
namespace {

template <typename Int>
bool parse_whole(std::string_view field, Int& out) {
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
  return ec == std::errc() && end == field.data() + field.size() && out >= 0;
}

}  // namespace

Result<FaultInjection> parse_fault_injection(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return input_error("fault injection \"{}\": {}; expected RANK:STEP:stall|exit|overflow|kill|ckpt-kill, e.g. \"1:2:stall\"", text, why);
  };
  const std::size_t first = text.find(':');
  const std::size_t second = first == std::string_view::npos ? first : text.find(':', first + 1);
  if (second == std::string_view::npos) return fail("needs three fields separated by ':'");
  FaultInjection fault;
  if (!parse_whole(text.substr(0, first), fault.rank)) return fail("RANK must be a whole number >= 0");
  if (!parse_whole(text.substr(first + 1, second - first - 1), fault.step)) {
    return fail("STEP must be a whole number >= 0");
  }
  const std::string_view mode = text.substr(second + 1);
  if (mode == "stall") {
    fault.mode = FaultInjection::Mode::kStall;
  } else if (mode == "exit") {
    fault.mode = FaultInjection::Mode::kExit;
  } else if (mode == "overflow") {
    fault.mode = FaultInjection::Mode::kOverflow;
  } else if (mode == "kill") {
    fault.mode = FaultInjection::Mode::kKill;
  } else if (mode == "ckpt-kill") {
    fault.mode = FaultInjection::Mode::kCheckpointKill;
  } else {
    return fail("mode must be \"stall\", \"exit\", \"overflow\", \"kill\" or \"ckpt-kill\"");
  }
  return fault;
}

void maybe_inject_fault(const FaultInjection& fault, int world_rank, std::int64_t step) {
  if (fault.rank != world_rank || fault.step != step || fault.mode == FaultInjection::Mode::kOverflow ||
      fault.mode == FaultInjection::Mode::kCheckpointKill) {
    return;
  }
  const char* what = fault.mode == FaultInjection::Mode::kExit ? "exits" : fault.mode == FaultInjection::Mode::kKill ? "is killed" : "stalls";
  std::fprintf(stderr, "llmrt fault injection (testing only): rank %d %s at step %lld\n", world_rank, what,
               static_cast<long long>(step));
  std::fflush(stderr);
  if (fault.mode == FaultInjection::Mode::kKill) raise(SIGKILL);
  // A crash: no MPI_Finalize, no destructors, exactly what the watchdog must survive.
  if (fault.mode == FaultInjection::Mode::kExit) _exit(1);
  for (;;) pause();  // stalled in "compute" for good; only a signal ends it
}

}  // namespace llmrt::obs
