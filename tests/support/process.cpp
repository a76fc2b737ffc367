#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace llmrt::test {
namespace {

std::vector<char*> build_env(const std::vector<std::string>& extra_env, std::vector<std::string>& storage) {
  for (char** entry = environ; *entry != nullptr; ++entry) storage.emplace_back(*entry);
  for (const auto& extra : extra_env) {
    const std::string name = extra.substr(0, extra.find('=') + 1);
    std::erase_if(storage, [&](const std::string& existing) { return existing.rfind(name, 0) == 0; });
    storage.push_back(extra);
  }
  std::vector<char*> pointers;
  for (auto& entry : storage) pointers.push_back(entry.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Reads both pipes until the child closes them or the deadline passes.
bool drain_pipes(int out_fd, int err_fd, ProcessResult& result, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_count = 2;
  char buffer[65536];
  while (open_count > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  return true;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                          const std::string& working_dir, double timeout_s) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> env_storage;
  std::vector<char*> env = build_env(extra_env, env_storage);
  std::vector<char*> args;
  std::vector<std::string> argv_copy = argv;
  for (auto& arg : argv_copy) args.push_back(arg.data());
  args.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);  // its own process group, so a timeout kills mpirun's children too
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    close(out_pipe[0]); close(out_pipe[1]); close(err_pipe[0]); close(err_pipe[1]);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    if (!working_dir.empty() && chdir(working_dir.c_str()) != 0) _exit(126);
    environ = env.data();
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  ProcessResult result;
  const bool finished = drain_pipes(out_pipe[0], err_pipe[0], result, timeout_s);
  if (!finished) {
    kill(-pid, SIGKILL);
    close(out_pipe[0]);
    close(err_pipe[0]);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!finished) result.exit_code = 124;
  else if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  return result;
}

ProcessResult run_llmrt(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv = {LLMRT_CLI_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, extra_env);
}

std::string source_path(const std::string& relative) { return std::string(LLMRT_SOURCE_DIR) + "/" + relative; }

std::string tools_python(const std::string& module) {
  for (const std::string& python : {source_path(".venv-tools/bin/python"), std::string("python3")}) {
    if (python.front() == '/' && !std::filesystem::exists(python)) continue;
    if (run_process({python, "-c", "import " + module}, {}, "", 120).exit_code == 0) return python;
  }
  return "";
}

TempDir::TempDir(const std::string& name) {
  path_ = std::string(LLMRT_BINARY_DIR) + "/tmp/" + name + "-" + std::to_string(getpid());
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& relative, const std::string& text) const {
  const std::filesystem::path full = std::filesystem::path(path_) / relative;
  std::filesystem::create_directories(full.parent_path());
  std::ofstream(full) << text;
  return full.string();
}

std::vector<std::string> mpirun_env() {
  return {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OMPI_MCA_rmaps_base_oversubscribe=1"};
}

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace llmrt::test
