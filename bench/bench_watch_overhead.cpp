// What watching a run costs the step: metrics.jsonl + TensorBoard events + the progress bar (on a
// pseudo-terminal, drained like a terminal would) + the Prometheus endpoint being scraped, against
// all of them off, in one sitting, rounds interleaved (off/on, then on/off). One rank, the same
// GPT shape as bench_train_cpu. Prints one JSON line; docs/PERFORMANCE.md holds the figures.
//   bench_watch_overhead --steps 60 --rounds 3 --scrape-ms 250
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pty.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/run_report.h"
#include "job/job.h"

namespace {

struct Options {
  int layers = 4, d_model = 256, heads = 4, seq = 256, vocab = 256, batch = 8, threads = 2;
  int steps = 60, warmup = 3, rounds = 3, scrape_ms = 250, log_every = 10;
};

std::string config_for(const Options& o, const std::string& run_dir, bool watched, int port) {
  return fmt::format(R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = {{ ranks = 1, threads_per_rank = {} }}
[model]
seq_len = {}
vocab_size = {}
[[model.layer]]
component = "gpt.embedding"
d_model = {}
[[model.layer]]
component = "gpt.block"
repeat = {}
d_model = {}
heads = {}
[[model.layer]]
component = "gpt.head"
[parallel]
microbatch_size = {}
[train]
steps = {}
global_batch = {}
optimizer = {{ component = "adamw", lr = 3e-4 }}
[metrics]
run_dir = "{}"
tensorboard = {}
prometheus = "{}"
log_every = {}
)",
                     o.threads, o.seq, o.vocab, o.d_model, o.layers, o.d_model, o.heads, o.batch, o.warmup + o.steps,
                     o.batch, watched ? run_dir : "", watched ? "true" : "false",
                     watched ? fmt::format("127.0.0.1:{}", port) : "", watched ? o.log_every : 1000000000);
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// GET /metrics every `interval` until destroyed; counts the pages that answered.
class Scraper {
 public:
  Scraper(int port, std::chrono::milliseconds interval) : thread_([this, port, interval] {
    while (!stop_) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<std::uint16_t>(port));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
        const std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
        std::size_t got = 0;
        char buffer[8192];
        if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
          for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) got += static_cast<std::size_t>(n);
        }
        if (got > 0) ++pages_;
      }
      close(fd);
      std::this_thread::sleep_for(interval);
    }
  }) {}
  ~Scraper() {
    stop_ = true;
    thread_.join();
  }
  int pages() const { return pages_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> pages_{0};
  std::thread thread_;
};

// stdout on a pseudo-terminal whose other end a thread reads, as a terminal emulator would.
class TerminalStdout {
 public:
  TerminalStdout() {
    std::fflush(stdout);
    saved_ = dup(STDOUT_FILENO);
    winsize size{};
    size.ws_col = 120;
    size.ws_row = 40;
    if (openpty(&master_, &slave_, nullptr, nullptr, &size) != 0) throw std::runtime_error("openpty failed");
    dup2(slave_, STDOUT_FILENO);
    reader_ = std::thread([this] {
      char buffer[4096];
      while (read(master_, buffer, sizeof(buffer)) > 0) {
      }
    });
  }
  ~TerminalStdout() {
    std::fflush(stdout);
    dup2(saved_, STDOUT_FILENO);
    close(saved_);
    close(slave_);  // the reader sees EIO and ends
    reader_.join();
    close(master_);
  }

 private:
  int saved_ = -1, master_ = -1, slave_ = -1;
  std::thread reader_;
};

struct Timing {
  std::vector<double> step_s;      // train_step + step_done, wall
  std::vector<double> reporter_s;  // step_done alone
  int scrapes = 0;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double mean(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// One training of warmup + steps steps, watched or not; the steps after warm-up are timed.
llmrt::Status train_once(const Options& o, bool watched, const std::string& scratch, int round,
                         const llmrt::World& world, Timing& timing) {
  using clock = std::chrono::steady_clock;
  const int port = free_port();
  const std::string run_dir = fmt::format("{}/run_{}", scratch, round);
  const std::string path = fmt::format("{}/job_{}_{}.toml", scratch, round, watched);
  if (FILE* file = std::fopen(path.c_str(), "w")) {
    std::fputs(config_for(o, run_dir, watched, port).c_str(), file);
    std::fclose(file);
  }
  LLMRT_ASSIGN_OR_RETURN(auto job, llmrt::start_training(llmrt::JobRequest{path, {}, false, true}, world));
  std::optional<TerminalStdout> terminal;
  if (watched) terminal.emplace();
  llmrt::ReportOptions options;
  if (watched) options.terminal_columns = 120;
  LLMRT_ASSIGN_OR_RETURN(llmrt::RunReporter reporter,
                         llmrt::RunReporter::create(job.open->spec, job.open->topology, job.trainer(), world, options));
  std::optional<Scraper> scraper;
  if (watched) scraper.emplace(port, std::chrono::milliseconds(o.scrape_ms));
  for (int step = 0; step < o.warmup + o.steps; ++step) {
    const auto start = clock::now();
    LLMRT_ASSIGN_OR_RETURN(llmrt::StepReport report, job.trainer().train_step());
    const auto trained = clock::now();
    LLMRT_RETURN_IF_ERROR(reporter.step_done(report));
    const auto reported = clock::now();
    if (step < o.warmup) continue;
    timing.step_s.push_back(std::chrono::duration<double>(reported - start).count());
    timing.reporter_s.push_back(std::chrono::duration<double>(reported - trained).count());
  }
  if (scraper) timing.scrapes += scraper->pages();
  return llmrt::Status::success();
}

nlohmann::json summary(const Timing& t) {
  return {{"step_ms_median", median(t.step_s) * 1e3}, {"step_ms_mean", mean(t.step_s) * 1e3},
          {"reporter_us_mean", mean(t.reporter_s) * 1e6},
          {"reporter_us_max", *std::max_element(t.reporter_s.begin(), t.reporter_s.end()) * 1e6},
          {"steps", t.step_s.size()}, {"scrapes", t.scrapes}};
}

int run(const Options& o) {
  const std::string scratch = fmt::format("/tmp/llmrt_bench_watch_{}", getpid());
  std::filesystem::create_directories(scratch);
  llmrt::World world;
  Timing off, on;
  std::vector<double> round_ratios;  // median on ÷ median off within each round: drift between rounds cancels
  for (int round = 0; round < o.rounds; ++round) {
    Timing round_off, round_on;
    for (const bool watched : round % 2 == 0 ? std::vector<bool>{false, true} : std::vector<bool>{true, false}) {
      const llmrt::Status status = train_once(o, watched, scratch, round, world, watched ? round_on : round_off);
      if (!status.ok()) return std::fprintf(stderr, "%s\n", status.error().message().c_str()), 1;
    }
    round_ratios.push_back(median(round_on.step_s) / median(round_off.step_s));
    for (auto [from, to] : {std::pair{&round_off, &off}, std::pair{&round_on, &on}}) {
      to->step_s.insert(to->step_s.end(), from->step_s.begin(), from->step_s.end());
      to->reporter_s.insert(to->reporter_s.end(), from->reporter_s.begin(), from->reporter_s.end());
      to->scrapes += from->scrapes;
    }
  }
  std::filesystem::remove_all(scratch);
  const nlohmann::json out = {
      {"bench", "watch_overhead"},
      {"shape", {{"layers", o.layers}, {"d_model", o.d_model}, {"heads", o.heads}, {"seq", o.seq}, {"vocab", o.vocab},
                 {"batch", o.batch}, {"threads", o.threads}}},
      {"rounds", o.rounds}, {"scrape_ms", o.scrape_ms}, {"off", summary(off)}, {"on", summary(on)},
      {"ratio_median", median(on.step_s) / median(off.step_s)}, {"ratio_mean", mean(on.step_s) / mean(off.step_s)},
      {"round_ratios", round_ratios}, {"round_ratio_median", median(round_ratios)},
      {"reporter_share", (mean(on.reporter_s) - mean(off.reporter_s)) / median(off.step_s)}};
  std::puts(out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("llmrt: the step-time cost of watching a run (metrics.jsonl, TensorBoard, progress bar, scraped endpoint)");
  app.add_option("--layers", o.layers);
  app.add_option("--d-model", o.d_model);
  app.add_option("--heads", o.heads);
  app.add_option("--seq", o.seq);
  app.add_option("--vocab", o.vocab);
  app.add_option("--batch", o.batch);
  app.add_option("--threads", o.threads);
  app.add_option("--steps", o.steps, "timed steps per training");
  app.add_option("--warmup", o.warmup);
  app.add_option("--rounds", o.rounds, "off/on pairs, interleaved");
  app.add_option("--scrape-ms", o.scrape_ms, "time between scrapes of the endpoint");
  app.add_option("--log-every", o.log_every, "TensorBoard flush interval when watched");
  CLI11_PARSE(app, argc, argv);
  return run(o);
}
