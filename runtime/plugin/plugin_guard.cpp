// The running plugin call, kept where a signal handler, an exit hook and the watch thread can
// read it: fixed slots of preformatted text, written by the calling thread before the call.
#include "plugin/plugin_guard.h"

#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace llmrt {
namespace {

constexpr int kMaxDepth = 4;
constexpr std::string_view kDuring = "during ";
constexpr int kExitCodeAfterExit = 1;  // a runtime failure: the plugin ended a started process
constexpr int kHangExitCode = 3;       // ErrorKind::kHang, as the MPI watchdog
constexpr auto kWatchPoll = std::chrono::milliseconds(50);

struct CallRecord {
  char plugin[1024];   // the .so
  char context[2048];  // "during forward of layer 'x' (...), step 1, microbatch 0, rank 0 (pp 0 · tp 0 · dp 0)"
  std::size_t call_length;  // of "forward of layer 'x' (...)", after "during "
  std::int64_t started_ns;
  pthread_t thread;  // the thread that made the call
};

// Written only by the thread making plugin calls (under g_mutex); read by the handlers without
// a lock (a record below g_depth is complete and stays put while its call runs).
CallRecord g_records[kMaxDepth];
std::atomic<int> g_depth{0};
// The thread that loads the plugins and makes the run's calls (the executor's): only its calls
// are recorded. A test or tool calling plugins from several threads at once would otherwise
// interleave the one stack of records.
pthread_t g_owner;
std::atomic<bool> g_owner_set{false};
std::mutex g_mutex;  // the scopes against the watch thread

std::atomic<std::int64_t> g_step{0};
std::atomic<double> g_bound_s{300};
std::atomic<bool> g_ending{false};  // someone already ends the process: the exit hook keeps quiet
std::mutex g_site_mutex;
int g_rank = 0;
std::string g_coords;
PluginOverrunHandler g_overrun_handler;  // under g_site_mutex

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void copy_text(char* out, std::size_t capacity, std::string_view text) {
  const std::size_t n = std::min(text.size(), capacity - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

// write(2) until done; the one output primitive of the handlers.
void write_all(const char* text) {
  std::size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<std::size_t>(n);
  }
}

// Flush `stream` unless another thread holds its lock (never wait on a lock a stuck or dying
// thread may hold: the process would hang instead of printing).
void flush_if_free(std::FILE* stream) {
  if (::ftrylockfile(stream) == 0) {
    std::fflush(stream);
    ::funlockfile(stream);
  }
}

// A handler's message, assembled without allocating and written in one write(2), so that the
// lines of ranks sharing a terminal do not interleave. Async-signal-safe.
class SignalSafeLine {
 public:
  SignalSafeLine& operator<<(const char* text) {
    while (*text != '\0' && length_ + 1 < sizeof(buffer_)) buffer_[length_++] = *text++;
    buffer_[length_] = '\0';
    return *this;
  }
  SignalSafeLine& operator<<(long value) {
    char digits[24];
    char* p = digits + sizeof(digits) - 1;
    *p = '\0';
    const bool negative = value < 0;
    unsigned long magnitude = negative ? 0UL - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
    do {
      *--p = static_cast<char>('0' + magnitude % 10);
      magnitude /= 10;
    } while (magnitude != 0);
    if (negative) *--p = '-';
    return *this << static_cast<const char*>(p);
  }
  void write() const { write_all(buffer_); }

 private:
  char buffer_[4096] = {};
  std::size_t length_ = 0;
};

// --- crash signals ----------------------------------------------------------------------------

struct CrashSignal {
  int number;
  const char* text;  // "SIGSEGV (invalid memory access)"
};
constexpr CrashSignal kCrashSignals[] = {
    {SIGSEGV, "SIGSEGV (invalid memory access)"}, {SIGBUS, "SIGBUS (bus error)"},
    {SIGFPE, "SIGFPE (arithmetic exception)"},    {SIGILL, "SIGILL (illegal instruction)"},
    {SIGABRT, "SIGABRT (abort)"},
};
struct sigaction g_previous[std::size(kCrashSignals)];

void on_crash(int signal_number, siginfo_t* info, void* ucontext) {
  const int depth = g_depth.load(std::memory_order_acquire);
  std::size_t index = 0;
  while (index < std::size(kCrashSignals) && kCrashSignals[index].number != signal_number) ++index;
  if (depth > 0 && depth <= kMaxDepth && index < std::size(kCrashSignals) && !g_ending.load()) {
    const CallRecord& record = g_records[depth - 1];
    SignalSafeLine line;  // on the alternate stack: 4 KiB of its 64
    line << "llmrt: " << kCrashSignals[index].text;
    if (pthread_equal(pthread_self(), record.thread)) {
      line << " in plugin " << record.plugin << " " << record.context;
    } else {  // an OpenMP worker of the plugin's, or a thread of llmrt's or a library's
      line << " on another thread while plugin " << record.plugin << " was running " << record.context;
    }
    line << "; the process dies with the signal\n";
    line.write();
    g_ending.store(true);
    ::signal(signal_number, SIG_DFL);  // dies when the handler returns (the fault repeats, or the raise)
    ::raise(signal_number);
    return;
  }
  // Not ours: whoever handled it before (a sanitizer's report), ours staying installed for the
  // next; or the default action, which needs the default disposition back.
  if (index >= std::size(kCrashSignals)) return;
  const struct sigaction& previous = g_previous[index];
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(signal_number, info, ucontext);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != nullptr) {
    previous.sa_handler(signal_number);
  } else {
    ::sigaction(signal_number, &previous, nullptr);
    if (info == nullptr || info->si_code <= 0) ::raise(signal_number);  // sent, not a fault: it would not repeat
  }
}

// The main thread's alternate stack (a stack overflow in a plugin still gets its message);
// kept when a sanitizer already set one.
void install_alternate_stack() {
  static char stack_memory[64 * 1024];
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) return;
  stack_t stack{};
  stack.ss_sp = stack_memory;
  stack.ss_size = sizeof(stack_memory);
  ::sigaltstack(&stack, nullptr);
}

void install_crash_handlers() {
  install_alternate_stack();
  for (std::size_t i = 0; i < std::size(kCrashSignals); ++i) {
    struct sigaction action {};
    action.sa_sigaction = on_crash;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(kCrashSignals[i].number, &action, &g_previous[i]);
  }
}

// --- exit ----------------------------------------------------------------------------------

void report_exit(const char* how, int status) {
  const int depth = g_depth.load(std::memory_order_acquire);
  if (depth <= 0 || depth > kMaxDepth) return;
  const CallRecord& record = g_records[depth - 1];
  // Only the thread inside the plugin call: another thread's exit (main returning while a worker
  // still destroys a layer) is the program ending, not the plugin.
  if (!pthread_equal(pthread_self(), record.thread) || g_ending.exchange(true)) return;
  flush_if_free(stdout);  // what the run printed before, in order
  flush_if_free(stderr);
  SignalSafeLine line;
  line << "llmrt: plugin " << record.plugin << " called " << how;
  if (status >= 0) line << "(" << static_cast<long>(status) << ")";
  line << " " << record.context << "; a plugin must return an error status, not end the process: exit code 1\n";
  line.write();
  ::_exit(kExitCodeAfterExit);
}

void on_exit_hook(int status, void*) { report_exit("exit", status); }
void on_quick_exit_hook() { report_exit("quick_exit()", -1); }

// --- the watch ------------------------------------------------------------------------------

[[noreturn]] void default_overrun(const PluginOverrun& overrun) {
  const std::string text = describe_overrun(overrun);
  g_ending.store(true);
  flush_if_free(stdout);
  write_all(text.c_str());
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, kHangExitCode);
  ::_exit(kHangExitCode);
}

// The innermost call, when it has run past the bound.
std::optional<PluginOverrun> find_overrun() {
  auto call = running_plugin_call();
  if (!call || call->bound <= 0 || call->seconds <= call->bound) return std::nullopt;
  return call;
}

void watch_calls() {
  for (;;) {
    std::this_thread::sleep_for(kWatchPoll);
    auto overrun = find_overrun();
    if (!overrun) continue;
    PluginOverrunHandler handler;
    {
      std::lock_guard lock(g_site_mutex);
      handler = g_overrun_handler;
    }
    if (handler) {
      handler(*overrun);
      return;  // the handler arranged the end of the job
    }
    default_overrun(*overrun);
  }
}

}  // namespace

void install_plugin_guard() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_owner = pthread_self();
    g_owner_set.store(true, std::memory_order_release);
    install_crash_handlers();
    ::on_exit(on_exit_hook, nullptr);
    ::at_quick_exit(on_quick_exit_hook);
    std::thread(watch_calls).detach();  // lives as long as the process
  });
}

void rearm_plugin_exit_hook() { ::on_exit(on_exit_hook, nullptr); }

void set_plugin_call_rank(int rank, std::string_view coords) {
  std::lock_guard lock(g_site_mutex);
  g_rank = rank;
  g_coords = coords;
}

void set_plugin_call_step(std::int64_t step) { g_step.store(step); }

void set_plugin_call_bound(double seconds) { g_bound_s.store(seconds); }

std::string plugin_call_site(int microbatch) {
  std::string site;
  if (const std::int64_t step = g_step.load(); step > 0) site += fmt::format("step {}, ", step);
  if (microbatch >= 0) site += fmt::format("microbatch {}, ", microbatch);
  std::lock_guard lock(g_site_mutex);
  return site + fmt::format("rank {}{}", g_rank, g_coords.empty() ? "" : fmt::format(" ({})", g_coords));
}

PluginCallScope::PluginCallScope(std::string_view plugin_file, std::string_view component, std::string_view call,
                                 std::string_view detail, int microbatch) {
  if (!g_owner_set.load(std::memory_order_acquire) || !pthread_equal(pthread_self(), g_owner)) {
    depth_ = -1;  // not the plugin-calling thread: unrecorded (see g_owner)
    return;
  }
  std::string context = fmt::format("{}{}{}{}", kDuring, call, component.empty() ? "" : fmt::format(" of {}", component),
                                    detail.empty() ? "" : fmt::format(" ({})", detail));
  const std::size_t call_length = context.size() - kDuring.size();
  if (const std::int64_t step = g_step.load(); step > 0) context += fmt::format(", step {}", step);
  if (microbatch >= 0) context += fmt::format(", microbatch {}", microbatch);
  {
    std::lock_guard lock(g_site_mutex);
    context += fmt::format(", rank {}{}", g_rank, g_coords.empty() ? "" : fmt::format(" ({})", g_coords));
  }
  std::lock_guard lock(g_mutex);
  depth_ = g_depth.load();
  if (depth_ >= kMaxDepth) {
    depth_ = -1;
    return;
  }
  CallRecord& record = g_records[depth_];
  copy_text(record.plugin, sizeof(record.plugin), plugin_file);
  copy_text(record.context, sizeof(record.context), context);
  record.call_length = std::min(call_length, sizeof(record.context) - 1 - kDuring.size());
  record.started_ns = now_ns();
  record.thread = pthread_self();
  g_depth.store(depth_ + 1, std::memory_order_release);
}

PluginCallScope::~PluginCallScope() {
  if (depth_ < 0) return;
  std::lock_guard lock(g_mutex);
  g_depth.store(depth_, std::memory_order_release);
}

std::optional<PluginOverrun> running_plugin_call() {
  const double bound = g_bound_s.load();
  std::lock_guard lock(g_mutex);
  const int depth = g_depth.load();
  if (depth <= 0 || depth > kMaxDepth) return std::nullopt;
  const CallRecord& record = g_records[depth - 1];
  const double seconds = static_cast<double>(now_ns() - record.started_ns) / 1e9;
  const std::string context = record.context;
  return PluginOverrun{record.plugin, context.substr(kDuring.size(), record.call_length), context, seconds, bound};
}

PluginOverrunHandler set_plugin_overrun_handler(PluginOverrunHandler handler) {
  std::lock_guard lock(g_site_mutex);
  return std::exchange(g_overrun_handler, std::move(handler));
}

void mark_plugin_guard_ending() { g_ending.store(true); }

std::string describe_overrun(const PluginOverrun& overrun) {
  return fmt::format("llmrt: plugin {} has run for {:.1f} s {}, past the bound of {:g} s (train.timeout_s); "
                     "stopping the job (exit code {})\n",
                     overrun.plugin_file, overrun.seconds, overrun.description, overrun.bound, kHangExitCode);
}

}  // namespace llmrt
