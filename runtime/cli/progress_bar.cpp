#include "cli/progress_bar.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace llmrt {
namespace {

constexpr int kDefaultColumns = 100;  // a terminal that does not say its width
constexpr int kMinBarWidth = 5;       // narrower says nothing: no bar
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::optional<int> columns_of(int fd) {
  if (!isatty(fd)) return std::nullopt;
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return static_cast<int>(size.ws_col);
  return kDefaultColumns;
}

// " [#####.....]", `width` characters between the brackets.
std::string bar(std::int64_t step, std::int64_t steps, int width) {
  const double done = steps > 0 ? std::clamp(static_cast<double>(step) / static_cast<double>(steps), 0.0, 1.0) : 1.0;
  const int filled = static_cast<int>(done * width);
  return fmt::format(" [{}{}]", std::string(static_cast<std::size_t>(filled), '#'),
                     std::string(static_cast<std::size_t>(width - filled), '.'));
}

// "0:42", "3:05", "2:10:05": short, for a line that must fit a terminal.
std::string clock_duration(double seconds) {
  const auto total = static_cast<std::int64_t>(std::max(seconds, 0.0) + 0.5);
  if (total < 3600) return fmt::format("{}:{:02d}", total / 60, total % 60);
  return fmt::format("{}:{:02d}:{:02d}", total / 3600, total % 3600 / 60, total % 60);
}

}  // namespace

std::optional<int> stdout_terminal_columns(std::string_view launcher) {
  if (launcher != "mpirun") return columns_of(STDOUT_FILENO);
  // A rank on mpirun's host is mpirun's child; on another host its parent is orted, whose
  // stdout is no terminal: log lines there, which is what a remote rank 0 should print.
  const std::string parent_stdout = fmt::format("/proc/{}/fd/1", static_cast<long>(getppid()));
  const int fd = ::open(parent_stdout.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  const std::optional<int> columns = columns_of(fd);
  ::close(fd);
  return columns;
}

namespace {

std::string progress_head(const ProgressState& state) { return fmt::format("step {}/{}", state.step, state.steps); }

std::string progress_fields(const ProgressState& state) {
  const std::string mfu = std::isnan(state.mfu) ? std::string("n/a") : fmt::format("{:.1f}%", 100 * state.mfu);
  return fmt::format(" loss {:.4f} lr {:.1e} {:.0f} tok/s MFU {} {:.0f} ms/step ETA {}", state.loss, state.lr,
                     state.tokens_per_second, mfu, state.step_seconds * 1e3,
                     clock_duration(state.eta_seconds));
}

}  // namespace

int progress_bar_width(const ProgressState& state, int columns) {
  const int room = columns - 1;  // a full line would wrap and break the redraw
  const int width = std::min(kMaxProgressBarWidth, room - static_cast<int>(progress_head(state).size() +
                                                                    progress_fields(state).size()) - 3);
  return width >= kMinBarWidth ? width : 0;
}

std::string format_progress_line(const ProgressState& state, int columns, int max_bar_width) {
  const int bar_width = std::min(progress_bar_width(state, columns), max_bar_width);
  std::string line = progress_head(state) + (bar_width >= kMinBarWidth ? bar(state.step, state.steps, bar_width) : "") +
                     progress_fields(state);
  const auto room = static_cast<std::size_t>(std::max(columns - 1, 1));
  if (line.size() > room) line.resize(room);
  return line;
}

void ProgressBar::step_done(ProgressState state, bool force) {
  smoothed_seconds_ = smoothed_seconds_ == 0 ? state.step_seconds : 0.9 * smoothed_seconds_ + 0.1 * state.step_seconds;
  const auto now = std::chrono::steady_clock::now();
  if (!force && line_open_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  state.eta_seconds = smoothed_seconds_ * static_cast<double>(std::max<std::int64_t>(state.steps - state.step, 0));
  // The bar only ever narrows, so that it does not jitter as the fields' digits come and go.
  bar_limit_ = std::min(bar_limit_, progress_bar_width(state, columns_));
  const std::string line = format_progress_line(state, columns_, bar_limit_);
  // Spaces over what is left of a longer line drawn before.
  const std::string padding(drawn_length_ > line.size() ? drawn_length_ - line.size() : 0, ' ');
  std::fputs(("\r" + line + padding).c_str(), out_);
  std::fflush(out_);
  drawn_length_ = line.size();
  line_open_ = true;
}

void ProgressBar::end_line() {
  if (!line_open_) return;
  std::fputc('\n', out_);
  std::fflush(out_);
  line_open_ = false;
  drawn_length_ = 0;
}

}  // namespace llmrt
