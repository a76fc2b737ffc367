// Rank 0's progress bar on a terminal: one line redrawn in place with '\r' (step/total, loss,
// lr, tokens/s, MFU, step time, ETA); elsewhere the run prints its log lines instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace llmrt {

// The terminal's width when rank 0's stdout reaches one, else nullopt. Under mpirun a rank's
// stdout is always a pseudo-terminal of mpirun's, whatever mpirun writes to; there the question
// is whether mpirun's own stdout (the parent process's) is a terminal.
std::optional<int> stdout_terminal_columns(std::string_view launcher);

struct ProgressState {
  std::int64_t step = 0;
  std::int64_t steps = 0;
  double loss = 0;
  double lr = 0;
  double tokens_per_second = 0;
  double mfu = 0;  // 0-1
  double step_seconds = 0;
  double eta_seconds = 0;
};

// "step 120/5000 [###.......] loss 4.1235 lr 6.0e-04 12346 tok/s MFU 41.2% 123 ms/step ETA 3:05",
// at most columns - 1 characters (a full line would wrap and break the redraw): the bar takes
// the room the fields leave (none on an 80-column terminal), and a line still too long is cut.
inline constexpr int kMaxProgressBarWidth = 30;
std::string format_progress_line(const ProgressState& state, int columns, int max_bar_width = kMaxProgressBarWidth);
// The bar's width in that line: what the fields leave, at most kMaxProgressBarWidth; 0 when under 5.
int progress_bar_width(const ProgressState& state, int columns);

class ProgressBar {
 public:
  ProgressBar(std::FILE* out, int columns) : out_(out), columns_(columns) {}
  ~ProgressBar() { end_line(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // One step done: redraws the line, at most ten times a second unless `force` (the first and
  // last step). The ETA is the remaining steps times a smoothed step time.
  void step_done(ProgressState state, bool force);
  // Ends the drawn line, so that whatever is printed next starts on a line of its own.
  void end_line();

 private:
  std::FILE* out_;
  int columns_;
  bool line_open_ = false;
  std::size_t drawn_length_ = 0;
  double smoothed_seconds_ = 0;
  int bar_limit_ = kMaxProgressBarWidth;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace llmrt
