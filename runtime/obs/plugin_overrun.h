// A plugin call past train.timeout_s on a rank the MPI watchdog does not watch (one rank
// without a launcher): the message naming the call, this rank's row of the watchdog's table,
// and exit code 3 — what a hang under a launcher ends with.
#pragma once

#include <string>

namespace llmrt::obs {

// From now on an overrunning plugin call on this process is reported this way (replaces the
// plugin guard's default one-line report). coords: the rank's label for the table.
void report_plugin_overruns_locally(int rank, std::string coords);

}  // namespace llmrt::obs
