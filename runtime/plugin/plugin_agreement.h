// Every rank must run the same plugins: compared across MPI ranks before anything starts.
#pragma once

#include <mpi.h>

#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// Collective over `comm`: each rank contributes its (component, kind, version, build id)
// list; on any difference every rank returns the same input error, which names the ranks that
// differ from rank 0 and how.
Status check_plugins_agree(const Registry& registry, MPI_Comm comm);

}  // namespace llmrt
