// The SIGTERM handler behind TerminationNote. Only async-signal-safe work happens in the
// handler: it reads a pre-formatted line, formats one number by hand and calls write(2).
#include "obs/termination_note.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace llmrt::obs {
namespace {

// Two slots: the writer fills the one not published, then flips `published`, so the
// handler never reads a half-written line unless two updates race one delivery.
struct Slot {
  char head[768] = {};
  char tail[1024] = {};
  std::int64_t since_ns = 0;  // CLOCK_MONOTONIC, the clock steady_clock uses on Linux
};

struct NoteState {
  Slot slots[2];
  std::atomic<int> published{0};
  std::atomic<bool> silent{false};
  std::atomic<bool> installed{false};
  struct sigaction previous {};
};

NoteState g_note;

std::size_t append(char* out, std::size_t used, std::size_t capacity, const char* text) {
  const std::size_t length = std::min(std::strlen(text), capacity - used);
  std::memcpy(out + used, text, length);
  return used + length;
}

// "12.3" for 123 tenths, without printf (not async-signal-safe).
std::size_t append_tenths(char* out, std::size_t used, std::size_t capacity, std::int64_t tenths) {
  char digits[24];
  int count = 0;
  std::int64_t whole = tenths / 10;
  do { digits[count++] = static_cast<char>('0' + whole % 10); whole /= 10; } while (whole > 0 && count < 20);
  char text[32];
  int length = 0;
  while (count > 0) text[length++] = digits[--count];
  text[length++] = '.';
  text[length++] = static_cast<char>('0' + tenths % 10);
  text[length] = '\0';
  return append(out, used, capacity, text);
}

void on_sigterm(int signal_number) {
  if (!g_note.silent.load()) {
    const Slot& slot = g_note.slots[g_note.published.load()];
    if (slot.head[0] != '\0') {
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      const std::int64_t now_ns = static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
      char line[2048];
      std::size_t used = append(line, 0, sizeof line - 1, slot.head);
      used = append_tenths(line, used, sizeof line - 1, std::max<std::int64_t>(0, now_ns - slot.since_ns) / 100000000);
      used = append(line, used, sizeof line - 1, " s");
      used = append(line, used, sizeof line - 1, slot.tail);
      line[used++] = '\n';
      [[maybe_unused]] const ssize_t written = write(STDERR_FILENO, line, used);  // one write: one line
    }
  }
  // Let the signal do what it did before (normally: end the process).
  sigaction(SIGTERM, &g_note.previous, nullptr);
  raise(signal_number);
}

void copy_text(char* out, std::size_t capacity, std::string_view text) {
  const std::size_t length = std::min(text.size(), capacity - 1);
  std::memcpy(out, text.data(), length);
  out[length] = '\0';
}

}  // namespace

Result<std::unique_ptr<TerminationNote>> TerminationNote::install() {
  if (g_note.installed.exchange(true)) return runtime_error("a watchdog is already running in this process");
  g_note.silent = false;
  g_note.slots[0].head[0] = g_note.slots[1].head[0] = '\0';
  struct sigaction action {};
  action.sa_handler = on_sigterm;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, &g_note.previous);
  return std::unique_ptr<TerminationNote>(new TerminationNote());
}

TerminationNote::~TerminationNote() {
  sigaction(SIGTERM, &g_note.previous, nullptr);
  g_note.installed = false;
}

void TerminationNote::publish(std::string_view head, std::string_view tail,
                              std::chrono::steady_clock::time_point since) {
  const int next = 1 - g_note.published.load();
  Slot& slot = g_note.slots[next];
  copy_text(slot.head, sizeof slot.head, head);
  copy_text(slot.tail, sizeof slot.tail, tail);
  slot.since_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since.time_since_epoch()).count();
  g_note.published.store(next);
}

void TerminationNote::silence() { g_note.silent = true; }

}  // namespace llmrt::obs
