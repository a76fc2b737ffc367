// The MPI world of this process: initialised only when a launcher (mpirun, srun) started us,
// so that `llmrt check` on a laptop needs no MPI daemon. Finalised when the session dies.
#pragma once

#include <string>

namespace llmrt {

class MpiSession {
 public:
  MpiSession();  // calls MPI_Init_thread when launched by mpirun/srun
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  bool launched() const { return launched_; }  // false: one rank, no MPI
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  const std::string& launcher() const { return launcher_; }  // "mpirun", "srun" or ""

  // Every rank's code agrees on failure: the largest exit code any rank reports.
  int agree_exit_code(int local_code) const;

 private:
  bool launched_ = false;
  int rank_ = 0;
  int world_size_ = 1;
  std::string launcher_;
};

// The launcher that started this process, from its environment ("" when none did).
std::string detect_launcher();

}  // namespace llmrt
