// The one-rank ending of a plugin call that overran: same table as the MPI watchdog prints.
#include "obs/plugin_overrun.h"

#include <unistd.h>

#include <cstdio>

#include "obs/hang_report.h"
#include "plugin/plugin_guard.h"

namespace llmrt::obs {
namespace {

void flush_unless_busy(FILE* stream) {
  if (::ftrylockfile(stream) != 0) return;
  std::fflush(stream);
  ::funlockfile(stream);
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

void report_plugin_overruns_locally(int rank, std::string coords) {
  set_plugin_overrun_handler([rank, coords](const PluginOverrun& overrun) {
    RankState state;
    state.rank = rank;
    state.coords = coords;
    state.phase = RankState::Phase::kTimedOut;
    state.action = "plugin call: " + overrun.call;
    state.seconds = overrun.seconds;
    const std::string text = describe_overrun(overrun) + format_hang_table({state}, {coords});
    mark_plugin_guard_ending();
    flush_unless_busy(stdout);  // the steps printed so far; never wait on a lock the stuck thread holds
    flush_unless_busy(stderr);
    write_all(STDERR_FILENO, text);
    ::_exit(3);  // ErrorKind::kHang; the executor's thread is stuck in the plugin, nothing to unwind
  });
}

}  // namespace llmrt::obs
