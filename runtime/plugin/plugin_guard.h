// What the host knows while a plugin's code runs — the component, plugin file, call, step,
// microbatch and rank — so that a plugin which misbehaves is named: a crash signal (from an
// async-signal-safe handler), an exit() in the middle of a call, or a call that runs past its
// bound (train.timeout_s) is reported with them. docs/plugins.md "When a plugin misbehaves".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace llmrt {

// Once per process, before the first plugin is loaded (load_plugin_file calls it): handlers for
// SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT on an alternate stack, the on_exit and
// at_quick_exit hooks, and the thread that watches the running call's time. Idempotent.
void install_plugin_guard();

// After a plugin is loaded: exit() runs its handlers last-registered first, so the hook that
// names a plugin's exit goes again after the plugin's own static destructors (registered by its
// dlopen) — its report is not lost when one of them hangs or crashes.
void rearm_plugin_exit_hook();

// Where this process stands, for the reports. coords: the executor's label ("pp 0 · tp 0 ·
// dp 0"), "" before the job is built.
void set_plugin_call_rank(int rank, std::string_view coords);
void set_plugin_call_step(std::int64_t step);  // 0: not training (yet)
// Where this process stands, as the reports say it: "step 3, microbatch 1, rank 0 (pp 0 · tp 0 ·
// dp 0)" (no step before training, no microbatch when < 0).
std::string plugin_call_site(int microbatch);
// Seconds one plugin call may run before the job stops with exit code 3 (train.timeout_s;
// 300 until a config says otherwise). 0 turns the watch off.
void set_plugin_call_bound(double seconds);

// Brackets one call into plugin code (plugin_calls.cpp and the loader make every such call
// inside one). Calls come from one thread at a time; nesting is allowed (a few levels).
class PluginCallScope {
 public:
  // plugin_file: the .so; component: "layer 'gpt.block'", "" while loading a file; call:
  // "forward", "registration"; detail: "gpt.block[3] forward (microbatch 1)" or ""; microbatch:
  // -1 when the call has none. Reports read "during forward of layer 'gpt.block' (detail)".
  PluginCallScope(std::string_view plugin_file, std::string_view component, std::string_view call,
                  std::string_view detail = {}, int microbatch = -1);
  ~PluginCallScope();
  PluginCallScope(const PluginCallScope&) = delete;
  PluginCallScope& operator=(const PluginCallScope&) = delete;

 private:
  int depth_;  // this scope's slot; -1 when nested too deep to be recorded
};

// A call that ran past its bound, as the watch thread saw it.
struct PluginOverrun {
  std::string plugin_file;
  std::string call;         // "forward of layer 'x' (x[1] forward (microbatch 0))"
  std::string description;  // "during <call>, step 1, microbatch 0, rank 0 (pp 0 · tp 0 · dp 0)"
  double seconds = 0;       // in the call so far
  double bound = 0;
};

// The innermost plugin call running now, with its time so far (bound: the current bound), if
// any: what the watchdog's table shows for a rank stuck in compute.
std::optional<PluginOverrun> running_plugin_call();

// What the watch thread does with an overrun. It must end the process or arrange for the job
// to end (the MPI watchdog's protocol); if it returns, the watch thread stops watching.
// The default prints one line naming the call and exits with 3 (MPI_Abort under a launcher).
using PluginOverrunHandler = std::function<void(const PluginOverrun&)>;
// Returns the handler it replaces (empty: the default), so a scoped owner can put it back.
PluginOverrunHandler set_plugin_overrun_handler(PluginOverrunHandler handler);

// Something else ends the process now (the MPI watchdog's abort): the exit hook stays quiet,
// whatever call is open.
void mark_plugin_guard_ending();

// The default handler's message: "llmrt: plugin call past its bound: ...".
std::string describe_overrun(const PluginOverrun& overrun);

}  // namespace llmrt
