// SIGINT and SIGTERM during training: the handler only sets a flag; the ranks agree on it at
// the next step boundary, then keep a checkpoint (when checkpoint.dir is set) and stop.
#pragma once

namespace llmrt {

// Installs the handlers (for the rest of the process).
void install_stop_handlers();
// The signal that asked to stop (SIGINT, SIGTERM), or 0.
int stop_signal();
// "SIGINT", "SIGTERM"
const char* stop_signal_name(int signal);

}  // namespace llmrt
