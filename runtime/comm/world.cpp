#include "comm/world.h"

#include <chrono>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

namespace llmrt {

std::string detect_launcher() {
  // Open MPI's mpirun, PMIx launchers and Slurm's srun each leave their mark.
  if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK")) return "mpirun";
  if (std::getenv("PMI_RANK") || std::getenv("PMI_SIZE")) return "mpirun";
  if (std::getenv("SLURM_PROCID") && std::getenv("SLURM_STEP_ID")) return "srun";
  return "";
}

World::World() : launcher_(detect_launcher()) {
  if (launcher_.empty()) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  launched_ = true;
}

World::~World() {
  if (launched_) MPI_Finalize();
}

Status World::agree(const Status& local) const {
  if (!launched_) return local;
  int code = local.ok() ? 0 : local.error().exit_code();
  int worst = code, rank0_code = code;
  MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Bcast(&rank0_code, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!local.ok() && rank_ != 0 && rank0_code == 0) {
    std::cerr << fmt::format("llmrt: rank {}: {}\n", rank_, local.error().message());
  }
  if (!local.ok()) return local;
  if (worst != 0) return Error(static_cast<ErrorKind>(worst), "another rank failed to set up (its message says why)");
  return Status::success();
}

int World::agree_exit_code(int local_code) const {
  if (!launched_) return local_code;
  int agreed = local_code;
  MPI_Allreduce(&local_code, &agreed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return agreed;
}

void World::abort(const Error& error, std::string_view who) const {
  std::cerr << fmt::format("llmrt: rank {} ({}): {}\n", rank_, who, error.message());
  std::cerr.flush();
  if (launched_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, error.exit_code());
  std::exit(error.exit_code());
}

std::vector<double> World::gather(double value) const {
  if (!launched_) return {value};
  std::vector<double> all(rank_ == 0 ? static_cast<std::size_t>(size_) : 0);
  MPI_Gather(&value, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return all;
}

std::pair<int, int> World::shared_memory_local_rank() const {
  if (!launched_) return {0, 1};
  MPI_Comm node = MPI_COMM_NULL;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node) != MPI_SUCCESS) {
    return {0, 1};
  }
  int local_rank = 0, local_size = 1;
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_size(node, &local_size);
  MPI_Comm_free(&node);
  return {local_rank, local_size};
}

std::vector<std::string> World::gather(const std::string& text) const {
  if (!launched_) return {text};
  int length = static_cast<int>(text.size());
  std::vector<int> lengths(rank_ == 0 ? static_cast<std::size_t>(size_) : 0);
  MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int> offsets(lengths.size());
  int total = 0;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    offsets[i] = total;
    total += lengths[i];
  }
  std::string joined(static_cast<std::size_t>(total), '\0');
  MPI_Gatherv(text.data(), length, MPI_CHAR, joined.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
              MPI_COMM_WORLD);
  std::vector<std::string> all;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    all.push_back(joined.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(lengths[i])));
  }
  return all;
}

std::vector<std::string> World::all_gather(const std::string& text) const {
  if (!launched_) return {text};
  int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<std::size_t>(size_));
  MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::vector<int> offsets(lengths.size());
  int total = 0;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    offsets[i] = total;
    total += lengths[i];
  }
  std::string joined(static_cast<std::size_t>(total), '\0');
  MPI_Allgatherv(text.data(), length, MPI_CHAR, joined.data(), lengths.data(), offsets.data(), MPI_CHAR,
                 MPI_COMM_WORLD);
  std::vector<std::string> all;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    all.push_back(joined.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(lengths[i])));
  }
  return all;
}

double World::max(double value) const {
  if (!launched_) return value;
  double largest = value;
  MPI_Allreduce(&value, &largest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return largest;
}

double World::seconds() const {
  if (launched_) return MPI_Wtime();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace llmrt
