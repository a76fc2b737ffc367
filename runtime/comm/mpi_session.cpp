#include "comm/mpi_session.h"

#include <mpi.h>

#include <cstdlib>

namespace llmrt {

std::string detect_launcher() {
  // Open MPI's mpirun, PMIx launchers and Slurm's srun each leave their mark.
  if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK")) return "mpirun";
  if (std::getenv("PMI_RANK") || std::getenv("PMI_SIZE")) return "mpirun";
  if (std::getenv("SLURM_PROCID") && std::getenv("SLURM_STEP_ID")) return "srun";
  return "";
}

MpiSession::MpiSession() : launcher_(detect_launcher()) {
  if (launcher_.empty()) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size_);
  launched_ = true;
}

MpiSession::~MpiSession() {
  if (launched_) MPI_Finalize();
}

int MpiSession::agree_exit_code(int local_code) const {
  if (!launched_) return local_code;
  int agreed = local_code;
  MPI_Allreduce(&local_code, &agreed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return agreed;
}

}  // namespace llmrt
