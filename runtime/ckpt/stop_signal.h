// SIGINT, SIGTERM and SIGUSR1 during training: the handler only sets a flag; the ranks agree on
// it at the next step boundary, then keep a checkpoint (when checkpoint.dir is set) and stop.
// Under Open MPI's mpirun SIGTERM is left to the watchdog's note (obs/termination_note.h):
// there it is mpirun ending the job, most often because another rank died, and a rank waiting
// for the dead one would never reach a step boundary. mpirun forwards SIGUSR1 to every rank.
#pragma once

namespace llmrt {

// Installs the handlers (for the rest of the process); SIGTERM only when `sigterm`.
void install_stop_handlers(bool sigterm);
// The signal that asked to stop (SIGINT, SIGTERM), or 0.
int stop_signal();
// "SIGINT", "SIGTERM", "SIGUSR1"
const char* stop_signal_name(int signal);

}  // namespace llmrt
