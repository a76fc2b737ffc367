// What the watchdog knows about one rank when a job stops, how it travels between ranks,
// and the one table rank 0 prints. Pure: no MPI, so it is unit-tested directly.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace llmrt::obs {

// Where one rank stood when rank 0 asked (or why it could not say).
struct RankState {
  enum class Phase {
    kNoAnswer,        // did not answer in time: exited, or stalled outside llmrt's reach
    kBetweenActions,  // no action open: compute between actions, or stalled there
    kInAction,        // an action is open but the rank is not blocked in a wait
    kWaiting,         // blocked in Watchdog::wait, not yet past timeout_s
    kTimedOut,        // blocked in Watchdog::wait for longer than timeout_s
  };
  int rank = 0;
  std::string coords;  // the executor's label, e.g. "pp 1 · tp 0 · dp 0"
  Phase phase = Phase::kNoAnswer;
  std::string action;         // the open action, "" when none
  int waits_for = -1;         // world rank the open action waits for; -1: none or collective
  double seconds = 0;         // in the open action, or since the last one finished
  std::string last_finished;  // "" before the first action finished
};

// One line of text for the wire; decode(encode(s)) == s. Fields never contain '\x1f'.
std::string encode_state(const RankState& state);
std::optional<RankState> decode_state(const std::string& text);

// The table, one row per rank in rank order, followed by the ranks that others wait for
// but that wait for nobody themselves: where a user should look first.
// `coords` names every rank (from Watchdog::start), used for the "waits for" column.
std::string format_hang_table(const std::vector<RankState>& states, const std::vector<std::string>& coords);

// Terminal columns a UTF-8 string takes (one per code point; "·" is one column).
std::size_t display_width(const std::string& text);

}  // namespace llmrt::obs
