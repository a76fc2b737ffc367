// One run per run_dir: the second is refused naming the holder; a dead holder's lock is taken over.
#define BOOST_TEST_MODULE cli_run_dir_lock
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cli/run_dir_lock.h"
#include "device/host_devices.h"
#include "support/process.h"

namespace {

using llmrt::RunDirLock;
using llmrt::test::TempDir;

std::string read_all(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

BOOST_AUTO_TEST_CASE(a_second_run_is_refused_naming_the_holder) {
  TempDir dir("run_dir_lock_second");
  const std::string run_dir = dir.path() + "/runs/x";
  auto first = RunDirLock::acquire(run_dir);
  BOOST_REQUIRE_MESSAGE(first.ok(), (first.ok() ? "" : first.error().message()));
  const std::string holder = fmt::format("pid {} on host {}", ::getpid(), llmrt::this_host_name());
  BOOST_TEST(read_all(run_dir + "/run.lock") == holder + "\n");
  // flock belongs to the open file: a second acquire, even in this process, is another run.
  auto second = RunDirLock::acquire(run_dir);
  BOOST_REQUIRE(!second.ok());
  BOOST_TEST(second.error().exit_code() == 2);
  BOOST_TEST(second.error().message().find("metrics.run_dir = \"" + run_dir + "\" is in use by another llmrt run (" +
                                           holder + ", holding " + run_dir + "/run.lock)") == 0u,
             second.error().message());
  *first = RunDirLock();  // the first run ends
  BOOST_TEST(RunDirLock::acquire(run_dir).ok());
}

BOOST_AUTO_TEST_CASE(the_lock_of_a_dead_process_is_taken_over) {
  TempDir dir("run_dir_lock_stale");
  const std::string run_dir = dir.path() + "/run";
  const pid_t child = ::fork();
  if (child == 0) {  // holds the lock and dies without letting go
    auto lock = RunDirLock::acquire(run_dir);
    ::_exit(lock.ok() ? 0 : 1);
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(child, &status, 0) == child);
  BOOST_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  BOOST_TEST(read_all(run_dir + "/run.lock").find(fmt::format("pid {} ", child)) == 0u);
  auto lock = RunDirLock::acquire(run_dir);
  BOOST_REQUIRE_MESSAGE(lock.ok(), (lock.ok() ? "" : lock.error().message()));
  BOOST_TEST(read_all(run_dir + "/run.lock") == fmt::format("pid {} on host {}\n", ::getpid(), llmrt::this_host_name()));
}

BOOST_AUTO_TEST_CASE(a_run_dir_under_a_file_is_refused_with_the_os_reason) {
  TempDir dir("run_dir_lock_file");
  const std::string file = dir.write("f", "");
  auto lock = RunDirLock::acquire(file + "/run");
  BOOST_REQUIRE(!lock.ok());
  BOOST_TEST(lock.error().exit_code() == 2);
  BOOST_TEST(lock.error().message() == "metrics.run_dir: cannot create the folder \"" + file + "/run\": Not a directory");
}

}  // namespace
