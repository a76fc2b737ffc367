// The processes of one job: an MPI world when a launcher (mpirun, srun) started us, or a
// single process that needs no MPI daemon (`llmrt check` on a laptop, a one-rank run). Every
// command takes its rank, size, setup agreement, abort and gathers from here — a world of one
// is the same code with no messages.
#pragma once

#include <mpi.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace llmrt {

class World {
 public:
  World();  // calls MPI_Init_thread when launched by mpirun/srun
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  bool launched() const { return launched_; }  // false: one process, no MPI
  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& launcher() const { return launcher_; }  // "mpirun", "srun" or ""
  // MPI_COMM_WORLD when launched; MPI_COMM_SELF-free: MPI_COMM_NULL for a world of one.
  MPI_Comm comm() const { return launched_ ? MPI_COMM_WORLD : MPI_COMM_NULL; }

  // Setup failures can differ between ranks (a file one rank cannot read): every rank learns
  // whether any failed before anyone enters a collective that would wait for the failed one.
  // Rank 0 prints the run's error later; a failure only another rank saw is printed here by
  // that rank. Collective.
  Status agree(const Status& local) const;
  template <typename T>
  Status agree(const Result<T>& local) const {
    return agree(local.ok() ? Status::success() : Status(local.error()));
  }
  // The largest exit code any rank reports. Collective.
  int agree_exit_code(int local_code) const;
  // A failure once training runs may leave other ranks waiting on this one: say which rank
  // (`who`: its coordinates) failed and stop the whole job with the error's exit code.
  [[noreturn]] void abort(const Error& error, std::string_view who) const;

  // Rank 0 gets every rank's value in rank order; the others an empty vector. Collective.
  std::vector<double> gather(double value) const;
  // The largest value over all ranks. Collective.
  double max(double value) const;
  // This rank's index and the number of ranks among the ranks that share its node's memory
  // (MPI_Comm_split_type, MPI_COMM_TYPE_SHARED): the local rank when the launcher did not say.
  // {0, 1} for a world of one. Collective.
  std::pair<int, int> shared_memory_local_rank() const;
  // Rank 0 gets every rank's text in rank order; the others an empty vector. Collective.
  std::vector<std::string> gather(const std::string& text) const;
  // Every rank gets every rank's text in rank order. Collective.
  std::vector<std::string> all_gather(const std::string& text) const;
  // Seconds on one clock for every rank of a node (MPI_Wtime, or the steady clock alone).
  double seconds() const;

 private:
  bool launched_ = false;
  int rank_ = 0;
  int size_ = 1;
  std::string launcher_;
};

// The launcher that started this process, from its environment ("" when none did).
std::string detect_launcher();

}  // namespace llmrt
