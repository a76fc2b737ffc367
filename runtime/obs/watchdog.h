// The watchdog: no silent hang. A rank that waits longer than timeout_s in any
// communication stops the whole job; rank 0 prints one table of every rank's state and
// the job exits with code 3 (ErrorKind::kHang). Protocol and Open MPI findings: WATCHDOG.md.
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "obs/hang_report.h"
#include "obs/termination_note.h"
#include "plugin/plugin_guard.h"
#include "util/status.h"

namespace llmrt::obs {

class Watchdog {
 public:
  // Collective over `world`, which must come from MPI_Init_thread(MPI_THREAD_MULTIPLE).
  // Dups `world` for its own traffic and starts one monitor thread per rank, which answers
  // rank 0's state queries even while the executor's thread is stuck in compute.
  // coords: this rank's label for the table, e.g. "pp 1 · tp 0 · dp 0".
  static Result<std::unique_ptr<Watchdog>> start(MPI_Comm world, double timeout_s, std::string coords);
  // Not collective. Keep the watchdog alive until the last communication of the run has
  // finished (including any final exit-code agreement), so late hangs are still caught.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Brackets one schedule action, e.g. "RECV_ACTIVATION mb 3 chunk 0 from rank 1";
  // waits_for_world_rank: the peer it depends on, -1 for a collective or none.
  void begin_action(std::string description, int waits_for_world_rank = -1);
  void end_action();  // remembered as "last finished"

  // Polls MPI_Test until the request completes. An MPI error comes back as kRuntime.
  // Past timeout_s it does not return: it starts the shutdown protocol and the job ends
  // with exit code 3 (MPI_Abort, the one documented abort path of llmrt).
  Status wait(MPI_Request& request);
  Status wait_all(std::vector<MPI_Request>& requests);
  // The same for any operation: polls `done` (true once complete; an error ends the wait).
  Status wait_until(const std::function<Result<bool>()>& done);
  // A blocking collective made safe: MPI_Iallreduce, then wait(); an action of its own.
  Status allreduce(const void* send, void* recv, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                   std::string description = "ALLREDUCE");

  // A plugin call on this rank ran past its bound (the plugin guard's watch thread calls this
  // while the executor's thread is stuck in the plugin): the same protocol as a timed-out wait,
  // with the call as this rank's action. Returns; MPI_Abort ends the process.
  void report_plugin_overrun(const PluginOverrun& overrun);

  double timeout_s() const { return timeout_s_; }
  int world_rank() const { return rank_; }

 private:
  using Clock = std::chrono::steady_clock;
  // The protocol's messages, on the watchdog's own communicator (nothing else uses it).
  static constexpr int kTagHang = 1;   // any rank -> rank 0: "I waited past timeout_s"
  static constexpr int kTagQuery = 2;  // rank 0 -> every other rank: "send me your state"
  static constexpr int kTagState = 3;  // every rank -> rank 0: encode_state(snapshot())
  static constexpr int kHangExitCode = static_cast<int>(ErrorKind::kHang);
  struct Local;  // this rank's state, guarded by mutex_
  Watchdog(MPI_Comm world, MPI_Comm control, double timeout_s, std::vector<std::string> coords,
           std::unique_ptr<TerminationNote> note);

  Status wait_requests(MPI_Request* requests, int count);
  [[noreturn]] void report_hang();
  RankState snapshot() const;
  void publish_note();  // requires mutex_ held

  // The monitor thread and what it does.
  void monitor(std::stop_token stop);
  void answer_query(int source);
  [[noreturn]] void collect_and_abort(int reporter);
  [[noreturn]] void abort_alone(const char* why);
  void arm_fallback();
  bool fallback_due() const;

  MPI_Comm world_;
  MPI_Comm control_;  // dup of world_, freed by the destructor after the thread stops
  double timeout_s_;
  double gather_s_;  // how long rank 0 waits for answers
  int rank_ = 0;
  int size_ = 1;
  std::vector<std::string> coords_;  // every rank's label, by world rank
  std::unique_ptr<TerminationNote> note_;

  mutable std::mutex mutex_;
  std::unique_ptr<Local> local_;
  std::atomic<std::int64_t> fallback_at_ns_{0};  // steady clock; 0: not armed

  PluginOverrunHandler previous_overrun_handler_;  // put back by the destructor
  std::jthread monitor_;  // joined by the destructor before control_ is freed
};

}  // namespace llmrt::obs
