// The watchdog's two halves: the executor's side (actions, waits) and the monitor thread
// (answers state queries; on rank 0 gathers them, prints the table and aborts with 3).
#include "obs/watchdog.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace llmrt::obs {
namespace {

constexpr int kSpinPolls = 200;  // MPI_Test calls before the waiting thread starts to sleep
constexpr auto kMaxBackoff = std::chrono::microseconds(500);
double seconds_since(std::chrono::steady_clock::time_point then) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - then).count();
}

Result<std::vector<std::string>> gather_coords(MPI_Comm comm, const std::string& mine, int size) {
  const int length = static_cast<int>(mine.size());
  std::vector<int> lengths(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  if (MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm) != MPI_SUCCESS) {
    return runtime_error("watchdog: exchanging rank labels failed");
  }
  int total = 0;
  for (int r = 0; r < size; ++r) offsets[static_cast<std::size_t>(r)] = std::exchange(total, total + lengths[static_cast<std::size_t>(r)]);
  std::string all(static_cast<std::size_t>(total), '\0');
  if (MPI_Allgatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, comm) !=
      MPI_SUCCESS) {
    return runtime_error("watchdog: exchanging rank labels failed");
  }
  std::vector<std::string> coords;
  for (int r = 0; r < size; ++r) {
    coords.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                                static_cast<std::size_t>(lengths[static_cast<std::size_t>(r)])));
  }
  return coords;
}

}  // namespace

struct Watchdog::Local {
  std::string action;  // the open action, when action_open
  int waits_for = -1;
  bool action_open = false;
  Clock::time_point action_began;
  std::string last_finished;
  Clock::time_point last_finished_at;  // or when the watchdog started
  bool in_wait = false;
  bool timed_out = false;
  std::string overrun;  // the plugin call that ran past its bound, when that is why
};

Result<std::unique_ptr<Watchdog>> Watchdog::start(MPI_Comm world, double timeout_s, std::string coords) {
  int initialized = 0, thread_level = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return runtime_error("watchdog: MPI is not initialised (run under mpirun)");
  MPI_Query_thread(&thread_level);
  if (thread_level != MPI_THREAD_MULTIPLE) {
    return runtime_error("watchdog: needs MPI_THREAD_MULTIPLE for its monitor thread, MPI gave level {}", thread_level);
  }
  if (!(timeout_s > 0)) return input_error("watchdog: timeout_s must be > 0, got {}", timeout_s);
  MPI_Comm control = MPI_COMM_NULL;
  if (MPI_Comm_dup(world, &control) != MPI_SUCCESS) return runtime_error("watchdog: MPI_Comm_dup failed");
  // A peer that died must not turn the watchdog's own traffic into a fatal MPI error with
  // some other exit code: errors come back, and the protocol ends the job with 3 anyway.
  MPI_Comm_set_errhandler(control, MPI_ERRORS_RETURN);
  int size = 1;
  MPI_Comm_size(control, &size);
  auto all_coords = gather_coords(control, coords, size);
  auto note = TerminationNote::install();
  if (!all_coords.ok() || !note.ok()) {
    MPI_Comm_free(&control);
    return all_coords.ok() ? note.error() : all_coords.error();
  }
  return std::unique_ptr<Watchdog>(
      new Watchdog(world, control, timeout_s, std::move(all_coords.value()), std::move(note.value())));
}

Watchdog::Watchdog(MPI_Comm world, MPI_Comm control, double timeout_s, std::vector<std::string> coords,
                   std::unique_ptr<TerminationNote> note)
    : world_(world),
      control_(control),
      timeout_s_(timeout_s),
      // Answers come back in milliseconds; only ranks that cannot answer use this up.
      gather_s_(std::clamp(timeout_s / 2, 1.0, 10.0)),
      coords_(std::move(coords)),
      note_(std::move(note)),
      local_(std::make_unique<Local>()) {
  MPI_Comm_rank(control_, &rank_);
  MPI_Comm_size(control_, &size_);
  local_->last_finished_at = Clock::now();
  {
    std::lock_guard lock(mutex_);
    publish_note();
  }
  monitor_ = std::jthread([this](std::stop_token stop) { monitor(stop); });
  previous_overrun_handler_ =
      set_plugin_overrun_handler([this](const PluginOverrun& overrun) { report_plugin_overrun(overrun); });
}

Watchdog::~Watchdog() {
  set_plugin_overrun_handler(std::move(previous_overrun_handler_));
  monitor_.request_stop();
  monitor_.join();
  MPI_Comm_free(&control_);
}

void Watchdog::begin_action(std::string description, int waits_for_world_rank) {
  std::lock_guard lock(mutex_);
  local_->action = std::move(description);
  local_->waits_for = waits_for_world_rank;
  local_->action_open = true;
  local_->action_began = Clock::now();
  publish_note();
}

void Watchdog::end_action() {
  std::lock_guard lock(mutex_);
  if (!local_->action_open) return;
  local_->last_finished = std::move(local_->action);
  local_->last_finished_at = Clock::now();
  local_->action_open = false;
  local_->waits_for = -1;
  publish_note();
}

void Watchdog::publish_note() {
  const Local& local = *local_;
  const std::string who = fmt::format("llmrt watchdog: rank {} ({}) was killed by the launcher (SIGTERM) ", rank_,
                                      coords_[static_cast<std::size_t>(rank_)]);
  if (!local.action_open) {
    note_->publish(who, fmt::format(" after finishing {}, no action open", local.last_finished.empty() ? "nothing yet" : local.last_finished),
                   local.last_finished_at);
    return;
  }
  std::string waiting;
  if (local.waits_for >= 0 && local.waits_for < size_) {
    waiting = fmt::format(", waiting for rank {} ({})", local.waits_for, coords_[static_cast<std::size_t>(local.waits_for)]);
  } else if (local.waits_for >= 0) {
    waiting = fmt::format(", waiting for rank {}", local.waits_for);
  }
  note_->publish(who, fmt::format(" into {}{}", local.action, waiting), local.action_began);
}

Status Watchdog::wait(MPI_Request& request) { return wait_requests(&request, 1); }

Status Watchdog::wait_all(std::vector<MPI_Request>& requests) {
  return wait_requests(requests.data(), static_cast<int>(requests.size()));
}

Status Watchdog::wait_requests(MPI_Request* requests, int count) {
  return wait_until([&]() -> Result<bool> {
    int done = 0;
    const int code = MPI_Testall(count, requests, &done, MPI_STATUSES_IGNORE);
    if (code != MPI_SUCCESS) return runtime_error("watchdog: MPI_Testall failed with code {}", code);
    return done != 0;
  });
}

Status Watchdog::wait_until(const std::function<Result<bool>()>& done) {
  const auto began = Clock::now();
  {
    std::lock_guard lock(mutex_);
    local_->in_wait = true;
  }
  auto backoff = std::chrono::microseconds(10);
  for (int polls = 0;; ++polls) {
    Result<bool> finished = done();
    if (!finished.ok() || *finished) {
      std::lock_guard lock(mutex_);
      local_->in_wait = false;
      if (!finished.ok()) return finished.error();
      return Status::success();
    }
    if (seconds_since(began) > timeout_s_) report_hang();
    if (polls >= kSpinPolls) {
      // Long waits sleep between polls so an oversubscribed or CPU-bound node keeps its cores.
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::microseconds>(kMaxBackoff));
    }
  }
}

Status Watchdog::allreduce(const void* send, void* recv, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                           std::string description) {
  begin_action(std::move(description), -1);
  MPI_Request request = MPI_REQUEST_NULL;
  if (const int code = MPI_Iallreduce(send, recv, count, type, op, comm, &request); code != MPI_SUCCESS) {
    end_action();
    return runtime_error("watchdog: MPI_Iallreduce failed with code {}", code);
  }
  Status status = wait(request);
  end_action();
  return status;
}

void Watchdog::report_hang() {
  {
    std::lock_guard lock(mutex_);
    local_->timed_out = true;
  }
  note_->silence();  // rank 0's table speaks for this rank from here on
  // Rank 0's monitor thread takes it from here (rank 0 sends to itself just the same).
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Isend(&rank_, 1, MPI_INT, 0, kTagHang, control_, &request);
  arm_fallback();
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // MPI_Abort ends this process
}

void Watchdog::report_plugin_overrun(const PluginOverrun& overrun) {
  {
    std::lock_guard lock(mutex_);
    local_->timed_out = true;
    local_->overrun = fmt::format("plugin call: {} (plugin {})", overrun.call, overrun.plugin_file);
  }
  note_->silence();
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Isend(&rank_, 1, MPI_INT, 0, kTagHang, control_, &request);
  arm_fallback();
}

RankState Watchdog::snapshot() const {
  std::lock_guard lock(mutex_);
  const Local& local = *local_;
  RankState state;
  state.rank = rank_;
  state.coords = coords_[static_cast<std::size_t>(rank_)];
  state.phase = local.timed_out    ? RankState::Phase::kTimedOut
                : local.in_wait    ? RankState::Phase::kWaiting
                : local.action_open ? RankState::Phase::kInAction
                                    : RankState::Phase::kBetweenActions;
  state.action = !local.overrun.empty() ? local.overrun
                 : local.action_open     ? local.action
                                         : (local.in_wait ? "MPI wait outside any action" : "");
  // A rank stuck in compute shows the plugin call it is in, whichever rank noticed first.
  if (const auto call = running_plugin_call(); call && local.overrun.empty() && !local.in_wait) {
    state.action = fmt::format("{}{}plugin call: {} (plugin {})", state.action, state.action.empty() ? "" : ", in ",
                               call->call, call->plugin_file);
  }
  state.waits_for = local.action_open ? local.waits_for : -1;
  state.seconds = seconds_since(local.action_open ? local.action_began : local.last_finished_at);
  state.last_finished = local.last_finished;
  return state;
}

}  // namespace llmrt::obs
