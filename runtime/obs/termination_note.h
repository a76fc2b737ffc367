// One line on stderr when the launcher kills this rank with SIGTERM: where the rank was
// and whom it waited for. Open MPI's mpirun SIGTERMs every survivor the moment one rank
// exits without MPI_Finalize, before any watchdog timeout can fire; these lines are how
// the surviving ranks still say "I was waiting for rank 1".
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include "util/status.h"

namespace llmrt::obs {

class TerminationNote {
 public:
  // Installs the SIGTERM handler; one note per process (a second install is an error).
  static Result<std::unique_ptr<TerminationNote>> install();
  ~TerminationNote();  // restores the handler that was there before
  TerminationNote(const TerminationNote&) = delete;
  TerminationNote& operator=(const TerminationNote&) = delete;

  // The line the handler writes: "<head><seconds since `since`> s<tail>\n". Called from one
  // thread (the executor's) at every action boundary; cheap, no allocation in the handler.
  void publish(std::string_view head, std::string_view tail, std::chrono::steady_clock::time_point since);

  // From now on the handler writes nothing: the watchdog's own table speaks for this rank.
  void silence();

 private:
  TerminationNote() = default;
};

}  // namespace llmrt::obs
