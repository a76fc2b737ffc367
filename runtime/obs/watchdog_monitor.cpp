// The watchdog's monitor thread, one per rank. Every rank: answer rank 0's state query.
// Rank 0 also: on the first hang report, query every rank with a deadline, print the one
// table and MPI_Abort(world, 3). A fallback ends the job if rank 0 never does.
#include <cstdio>

#include <fmt/format.h>

#include "obs/watchdog.h"

namespace llmrt::obs {
namespace {

constexpr auto kMonitorPoll = std::chrono::milliseconds(2);
constexpr double kFallbackSlackS = 5.0;  // rank 0 gets gather_s + this to end the job

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Receives the probed message as bytes (all watchdog messages are small).
std::string receive(MPI_Comm comm, const MPI_Status& probed) {
  int count = 0;
  MPI_Get_count(&probed, MPI_CHAR, &count);
  std::string bytes(static_cast<std::size_t>(std::max(count, 0)), '\0');
  MPI_Recv(bytes.data(), count, MPI_CHAR, probed.MPI_SOURCE, probed.MPI_TAG, comm, MPI_STATUS_IGNORE);
  return bytes;
}

// stderr in one piece, so the table is not interleaved with other output of this process.
void print_all(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void Watchdog::monitor(std::stop_token stop) {
  while (!stop.stop_requested()) {
    int arrived = 0;
    MPI_Status probed;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, control_, &arrived, &probed);
    if (!arrived) {
      if (fallback_due()) abort_alone("rank 0 did not stop the job in time");
      std::this_thread::sleep_for(kMonitorPoll);
      continue;
    }
    const std::string bytes = receive(control_, probed);
    if (probed.MPI_TAG == kTagQuery) {
      answer_query(probed.MPI_SOURCE);
    } else if (probed.MPI_TAG == kTagHang && rank_ == 0) {
      collect_and_abort(probed.MPI_SOURCE);
    }
    // A late kTagState (after rank 0 gave up on it) is simply dropped.
  }
}

void Watchdog::answer_query(int source) {
  note_->silence();  // rank 0's table will carry this rank's row
  const std::string state = encode_state(snapshot());
  MPI_Send(state.data(), static_cast<int>(state.size()), MPI_CHAR, source, kTagState, control_);
  arm_fallback();  // should rank 0 die before it aborts, this rank still ends the job
}

void Watchdog::collect_and_abort(int reporter) {
  note_->silence();
  std::vector<RankState> states(static_cast<std::size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    states[static_cast<std::size_t>(r)].rank = r;
    states[static_cast<std::size_t>(r)].coords = coords_[static_cast<std::size_t>(r)];
  }
  states[0] = snapshot();
  std::vector<MPI_Request> queries(static_cast<std::size_t>(size_), MPI_REQUEST_NULL);
  char nothing = 0;
  for (int r = 1; r < size_; ++r) {
    MPI_Isend(&nothing, 0, MPI_CHAR, r, kTagQuery, control_, &queries[static_cast<std::size_t>(r)]);
  }
  int answered = 1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(gather_s_);
  while (answered < size_ && std::chrono::steady_clock::now() < deadline) {
    int arrived = 0;
    MPI_Status probed;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, control_, &arrived, &probed);
    if (!arrived) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const std::string bytes = receive(control_, probed);  // further hang reports: already handled
    if (probed.MPI_TAG != kTagState) continue;
    const auto state = decode_state(bytes);
    auto& slot = states[static_cast<std::size_t>(probed.MPI_SOURCE)];
    if (state && slot.phase == RankState::Phase::kNoAnswer) {
      slot = *state;
      ++answered;
    }
  }
  const RankState& first = states[static_cast<std::size_t>(reporter)];
  print_all(fmt::format(
      "llmrt watchdog: rank {} ({}) waited more than {} s in {}; stopping all {} ranks (exit code {}).\n{}",
      reporter, coords_[static_cast<std::size_t>(reporter)], timeout_s_,
      first.action.empty() ? "an MPI wait" : first.action, size_, kHangExitCode, format_hang_table(states, coords_)));
  mark_plugin_guard_ending();  // a rank stuck in a plugin call is not "exiting" from it
  MPI_Abort(world_, kHangExitCode);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

void Watchdog::abort_alone(const char* why) {
  print_all(fmt::format("llmrt watchdog: {}; rank {} stops the job (exit code {}). Its own state:\n{}", why, rank_,
                        kHangExitCode, format_hang_table({snapshot()}, coords_)));
  mark_plugin_guard_ending();
  MPI_Abort(world_, kHangExitCode);
  std::abort();
}

void Watchdog::arm_fallback() {
  std::int64_t unarmed = 0;
  const auto due = now_ns() + static_cast<std::int64_t>((gather_s_ + kFallbackSlackS) * 1e9);
  fallback_at_ns_.compare_exchange_strong(unarmed, due);
}

bool Watchdog::fallback_due() const {
  const std::int64_t due = fallback_at_ns_.load();
  return due != 0 && now_ns() > due;
}

}  // namespace llmrt::obs
