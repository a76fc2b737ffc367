// The watchdog's table and its wire format (see hang_report.h).
#include "obs/hang_report.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

namespace llmrt::obs {
namespace {

constexpr char kSeparator = '\x1f';  // ASCII unit separator: never in a label or action

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  for (std::size_t end; (end = text.find(separator, begin)) != std::string::npos; begin = end + 1) {
    parts.push_back(text.substr(begin, end - begin));
  }
  parts.push_back(text.substr(begin));
  return parts;
}

std::string phase_name(RankState::Phase phase) {
  switch (phase) {
    case RankState::Phase::kNoAnswer: return "no answer (exited or stalled outside llmrt)";
    case RankState::Phase::kBetweenActions: return "between actions";
    case RankState::Phase::kInAction: return "in action";
    case RankState::Phase::kWaiting: return "waiting";
    case RankState::Phase::kTimedOut: return "timed out";
  }
  return "?";
}

std::string waits_for_cell(const RankState& state, const std::vector<std::string>& coords) {
  if (state.phase != RankState::Phase::kWaiting && state.phase != RankState::Phase::kTimedOut) return "-";
  if (state.waits_for < 0) return "collective (all ranks)";
  if (static_cast<std::size_t>(state.waits_for) >= coords.size()) return fmt::format("rank {}", state.waits_for);
  return fmt::format("rank {} ({})", state.waits_for, coords[static_cast<std::size_t>(state.waits_for)]);
}

using Row = std::array<std::string, 7>;

Row make_row(const RankState& state, const std::vector<std::string>& coords) {
  const bool answered = state.phase != RankState::Phase::kNoAnswer;
  const bool open = state.phase != RankState::Phase::kBetweenActions && answered;
  return {fmt::format("{}", state.rank),
          state.coords,
          phase_name(state.phase),
          answered ? (open ? state.action : "-") : "?",
          answered ? fmt::format("{:.1f} s", state.seconds) : "?",
          answered ? (state.last_finished.empty() ? "(none yet)" : state.last_finished) : "?",
          answered ? waits_for_cell(state, coords) : "?"};
}

std::string pad(const std::string& text, std::size_t width) {
  return text + std::string(width - std::min(width, display_width(text)), ' ');
}

// Ranks someone waits for that are not waiting themselves: the likely root cause.
std::vector<int> root_suspects(const std::vector<RankState>& states) {
  std::vector<int> suspects;
  for (const auto& candidate : states) {
    const bool blocked = candidate.phase == RankState::Phase::kWaiting || candidate.phase == RankState::Phase::kTimedOut;
    const bool waited_on = std::any_of(states.begin(), states.end(), [&](const RankState& other) {
      return other.waits_for == candidate.rank &&
             (other.phase == RankState::Phase::kWaiting || other.phase == RankState::Phase::kTimedOut);
    });
    if (waited_on && !blocked) suspects.push_back(candidate.rank);
  }
  return suspects;
}

}  // namespace

std::size_t display_width(const std::string& text) {
  // Count bytes that start a code point (not 10xxxxxx continuation bytes).
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(),
                                                [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string encode_state(const RankState& state) {
  return fmt::format("{}{}{}{}{}{}{}{}{}{}{}{}{}", state.rank, kSeparator, state.coords, kSeparator,
                     static_cast<int>(state.phase), kSeparator, state.action, kSeparator, state.waits_for,
                     kSeparator, state.seconds, kSeparator, state.last_finished);
}

std::optional<RankState> decode_state(const std::string& text) {
  const std::vector<std::string> parts = split(text, kSeparator);
  if (parts.size() != 7) return std::nullopt;
  RankState state;
  int phase = 0;
  auto parse_int = [](const std::string& field, int& out) {
    return std::from_chars(field.data(), field.data() + field.size(), out).ec == std::errc();
  };
  if (!parse_int(parts[0], state.rank) || !parse_int(parts[2], phase) || !parse_int(parts[4], state.waits_for)) {
    return std::nullopt;
  }
  if (phase < 0 || phase > static_cast<int>(RankState::Phase::kTimedOut)) return std::nullopt;
  if (std::from_chars(parts[5].data(), parts[5].data() + parts[5].size(), state.seconds).ec != std::errc()) {
    return std::nullopt;
  }
  state.phase = static_cast<RankState::Phase>(phase);
  state.coords = parts[1];
  state.action = parts[3];
  state.last_finished = parts[6];
  return state;
}

std::string format_hang_table(const std::vector<RankState>& states, const std::vector<std::string>& coords) {
  std::vector<Row> rows = {{"rank", "coordinates", "state", "current action", "for", "last finished", "waits for"}};
  for (const auto& state : states) rows.push_back(make_row(state, coords));
  std::array<std::size_t, 7> widths{};
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
  }
  std::string table;
  for (const auto& row : rows) {
    std::string line = "  ";
    for (std::size_t c = 0; c < row.size(); ++c) line += (c + 1 < row.size() ? pad(row[c], widths[c] + 2) : row[c]);
    table += line + "\n";
  }
  const std::vector<int> suspects = root_suspects(states);
  for (int rank : suspects) {
    table += fmt::format("  waited on but waiting for nobody: rank {} ({}) - look there first\n", rank,
                         static_cast<std::size_t>(rank) < coords.size() ? coords[static_cast<std::size_t>(rank)] : "?");
  }
  return table;
}

}  // namespace llmrt::obs
