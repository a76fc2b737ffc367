// An MPI program for the watchdog job tests: ranks pass messages in a ring the way the
// executor will drive the watchdog, with an optional injected fault.
// Usage: watchdog_ring_helper TIMEOUT_S STEPS FAULT|none TAG   (TAG only marks the processes)
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "comm/world.h"
#include "obs/fault_injection.h"
#include "obs/watchdog.h"

namespace {

using llmrt::Status;
using llmrt::obs::Watchdog;

Status ring_step(Watchdog& watchdog, int rank, int size, std::int64_t step) {
  const int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  int out = static_cast<int>(step) * 100 + rank, in = -1;
  const int tag = static_cast<int>(step);
  MPI_Request recv = MPI_REQUEST_NULL, send = MPI_REQUEST_NULL;
  MPI_Irecv(&in, 1, MPI_INT, prev, tag, MPI_COMM_WORLD, &recv);
  MPI_Isend(&out, 1, MPI_INT, next, tag, MPI_COMM_WORLD, &send);
  watchdog.begin_action(fmt::format("SEND_ACTIVATION step {} to rank {}", step, next), next);
  LLMRT_RETURN_IF_ERROR(watchdog.wait(send));
  watchdog.end_action();
  watchdog.begin_action(fmt::format("RECV_ACTIVATION step {} from rank {}", step, prev), prev);
  LLMRT_RETURN_IF_ERROR(watchdog.wait(recv));
  watchdog.end_action();
  if (in != static_cast<int>(step) * 100 + prev) return llmrt::runtime_error("ring: got {} at step {}", in, step);
  watchdog.begin_action(fmt::format("FORWARD step {}", step));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // "compute"
  watchdog.end_action();
  return Status::success();
}

int run(const llmrt::World& mpi, double timeout_s, std::int64_t steps, const llmrt::obs::FaultInjection& fault) {
  const std::string coords = fmt::format("pp {} · tp 0 · dp 0", mpi.rank());
  auto watchdog = Watchdog::start(MPI_COMM_WORLD, timeout_s, coords);
  if (!watchdog.ok()) {
    std::fprintf(stderr, "%s\n", watchdog.error().message().c_str());
    return watchdog.error().exit_code();
  }
  for (std::int64_t step = 0; step < steps; ++step) {
    if (fault.rank == mpi.rank() && fault.step == step) {
      // For the test's stop-time measurement: when the fault begins, on the wall clock.
      const auto epoch = std::chrono::system_clock::now().time_since_epoch();
      std::fprintf(stderr, "helper: fault at epoch_ms %lld\n",
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(epoch).count()));
    }
    llmrt::obs::maybe_inject_fault(fault, mpi.rank(), step);
    if (Status status = ring_step(**watchdog, mpi.rank(), mpi.size(), step); !status.ok()) {
      std::fprintf(stderr, "%s\n", status.error().message().c_str());
      return status.error().exit_code();
    }
  }
  double loss = 1.0, total = 0;  // the final agreement, watched like everything else
  if (Status status = (*watchdog)->allreduce(&loss, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, "ALLREDUCE loss");
      !status.ok()) {
    return status.error().exit_code();
  }
  if (mpi.rank() == 0) std::printf("helper: %lld steps done, loss sum %.1f\n", static_cast<long long>(steps), total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s TIMEOUT_S STEPS FAULT|none TAG\n", argv[0]);
    return 2;
  }
  llmrt::obs::FaultInjection fault;  // rank -1: never fires
  if (std::string(argv[3]) != "none") {
    auto parsed = llmrt::obs::parse_fault_injection(argv[3]);
    if (!parsed.ok()) {
      std::fprintf(stderr, "%s\n", parsed.error().message().c_str());
      return parsed.error().exit_code();
    }
    fault = *parsed;
  }
  llmrt::World mpi;
  return run(mpi, std::stod(argv[1]), std::stoll(argv[2]), fault);
}
