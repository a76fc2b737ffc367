// The plugin guard's record of the running call and its watch: what a crash, exit or overrun
// report names. The crash and exit paths end the process, so they run through the real binary
// and the hostile plugins in tests/reliability/cases/plugins.cases.
#define BOOST_TEST_MODULE plugin_guard
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "plugin/plugin_guard.h"

using llmrt::PluginCallScope;
using llmrt::PluginOverrun;

BOOST_AUTO_TEST_CASE(the_running_call_is_the_innermost_open_scope) {
  llmrt::install_plugin_guard();
  llmrt::set_plugin_call_rank(3, "pp 1 · tp 0 · dp 1");
  llmrt::set_plugin_call_step(7);
  BOOST_TEST(!llmrt::running_plugin_call().has_value());
  {
    const PluginCallScope outer("/p/a.so", "layer 'x.mlp'", "forward", "x.mlp[4] forward (microbatch 2)", 2);
    auto call = llmrt::running_plugin_call();
    BOOST_REQUIRE(call.has_value());
    BOOST_TEST(call->plugin_file == "/p/a.so");
    BOOST_TEST(call->call == "forward of layer 'x.mlp' (x.mlp[4] forward (microbatch 2))");
    BOOST_TEST(call->description ==
               "during forward of layer 'x.mlp' (x.mlp[4] forward (microbatch 2)), step 7, microbatch 2, rank 3 "
               "(pp 1 · tp 0 · dp 1)");
    {
      const PluginCallScope inner("/p/b.so", "", "registration");
      call = llmrt::running_plugin_call();
      BOOST_REQUIRE(call.has_value());
      BOOST_TEST(call->plugin_file == "/p/b.so");
      BOOST_TEST(call->description == "during registration, step 7, rank 3 (pp 1 · tp 0 · dp 1)");
    }
    call = llmrt::running_plugin_call();
    BOOST_REQUIRE(call.has_value());
    BOOST_TEST(call->plugin_file == "/p/a.so");
  }
  BOOST_TEST(!llmrt::running_plugin_call().has_value());
  llmrt::set_plugin_call_step(0);
}

// The watch hands a call past its bound to the handler, once, with how long it has run; a call
// that ends in time is never reported. (The handler returns, which ends the watch: last test.)
BOOST_AUTO_TEST_CASE(a_call_past_its_bound_goes_to_the_overrun_handler) {
  llmrt::install_plugin_guard();
  std::mutex mutex;
  std::condition_variable reported;
  std::optional<PluginOverrun> seen;
  int calls = 0;
  const auto previous = llmrt::set_plugin_overrun_handler([&](const PluginOverrun& overrun) {
    std::lock_guard lock(mutex);
    seen = overrun;
    ++calls;
    reported.notify_all();
  });
  llmrt::set_plugin_call_bound(0.3);
  {
    const PluginCallScope quick("/p/quick.so", "optimizer 'o'", "step");  // well inside the bound
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  {
    std::lock_guard lock(mutex);
    BOOST_TEST(calls == 0);
  }
  const auto began = std::chrono::steady_clock::now();
  {
    const PluginCallScope slow("/p/slow.so", "layer 'slow'", "create", "layer index 1");
    std::unique_lock lock(mutex);
    BOOST_REQUIRE(reported.wait_for(lock, std::chrono::seconds(10), [&] { return seen.has_value(); }));
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  BOOST_TEST(waited >= 0.3);
  BOOST_TEST(seen->plugin_file == "/p/slow.so");
  BOOST_TEST(seen->call == "create of layer 'slow' (layer index 1)");
  BOOST_TEST(seen->seconds > 0.3);
  BOOST_TEST(seen->bound == 0.3);
  const std::string message = llmrt::describe_overrun(*seen);
  BOOST_TEST(message.find("llmrt: plugin /p/slow.so has run for ") == 0u);
  BOOST_TEST(message.find("during create of layer 'slow' (layer index 1)") != std::string::npos);
  BOOST_TEST(message.find("past the bound of 0.3 s (train.timeout_s); stopping the job (exit code 3)") !=
             std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::lock_guard lock(mutex);
  BOOST_TEST(calls == 1);
  llmrt::set_plugin_overrun_handler(previous);
}
