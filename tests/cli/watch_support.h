// What the tests of watching a run share: a small fast job, ports picked free at test time, and
// llmrt run under a pseudo-terminal (its stdout a terminal, as a user's shell gives it).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "support/process.h"

namespace llmrt::test {

// One CPU rank, a model small enough for milliseconds per step.
inline std::string small_job(const std::string& run_dir, std::int64_t steps, const std::string& prometheus,
                             int log_every = 10) {
  return fmt::format(R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = {{ ranks = 1, threads_per_rank = 1 }}
[model]
name = "watch-test"
seq_len = 16
vocab_size = 64
[[model.layer]]
component = "gpt.embedding"
d_model = 32
[[model.layer]]
component = "gpt.block"
repeat = 2
d_model = 32
heads = 4
[[model.layer]]
component = "gpt.head"
[train]
steps = {}
global_batch = 2
seed = 5
optimizer = {{ component = "adamw", lr = 3e-3 }}
[metrics]
run_dir = "{}"
prometheus = "{}"
log_every = {}
[parallel]
microbatch_size = 1
)",
                     steps, run_dir, prometheus, log_every);
}

// A socket listening on 127.0.0.1 at a port the kernel picked, held while this lives.
class HeldPort {
 public:
  HeldPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(fd_, 1) != 0) {
      throw std::runtime_error("cannot bind a loopback port");
    }
    socklen_t length = sizeof(address);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~HeldPort() { close(fd_); }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port nothing listens on now (picked by the kernel, then released).
inline int free_port() { return HeldPort().port(); }

// Lines of run_dir/metrics.jsonl.
inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream file(path);
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  return lines;
}

// A child process running beside the test (a Prometheus server, a long llmrt run): output to
// files, killed with its process group and reaped when this dies.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path) {
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      setpgid(0, 0);
      const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, STDIN_FILENO);
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~BackgroundProcess() { stop(); }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  // Whether it still runs (not yet exited).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == 0) return true;
    pid_ = -1;
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

struct PtyResult {
  int exit_code = -1;
  std::string output;  // what the terminal received (stdout and stderr, the tty's \r\n line ends)
};

// Runs argv with stdin, stdout and stderr on a new pseudo-terminal `columns` wide.
inline PtyResult run_in_pty(const std::vector<std::string>& argv, int columns, const std::vector<std::string>& env = {},
                            double timeout_s = 120) {
  winsize size{};
  size.ws_row = 40;
  size.ws_col = static_cast<unsigned short>(columns);
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, &size);
  if (pid < 0) throw std::runtime_error("forkpty failed");
  if (pid == 0) {
    for (const std::string& entry : env) putenv(const_cast<char*>(entry.c_str()));
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  PtyResult result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd fd{master, POLLIN, 0};
    if (poll(&fd, 1, 200) <= 0) continue;
    const ssize_t n = read(master, buffer, sizeof(buffer));
    if (n <= 0) break;  // EIO: the child side closed
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  if (std::chrono::steady_clock::now() >= deadline) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  close(master);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace llmrt::test
