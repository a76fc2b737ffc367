// The metrics endpoint of a running llmrt, scraped while it trains by a real HTTP client (curl,
// or a plain socket where there is none) and parsed by prometheus_client's own text parser
// (tools_python("prometheus_client")): every family with its type, values that agree with
// metrics.jsonl at the step the scrape saw. Skips (exit 77) where no Python has the parser.
#define BOOST_TEST_MODULE cli_watch_prometheus
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "watch_support.h"

using namespace llmrt::test;
using nlohmann::json;

namespace {

std::string g_python;  // set by main

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

// GET http://127.0.0.1:port/metrics with headers: "" when nothing answered.
std::string scrape(int port) {
  if (std::filesystem::exists("/usr/bin/curl")) {
    const ProcessResult got = run_process(
        {"/usr/bin/curl", "-s", "-i", "--max-time", "5", fmt::format("http://127.0.0.1:{}/metrics", port)}, {}, "", 10);
    return got.exit_code == 0 ? got.out : "";
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  return response;
}

// prometheus_client's reading of each page: {sample name: [{labels, value}, ...]} and {family: type}.
struct Parsed {
  json samples;
  json types;
};
std::vector<Parsed> parse(const TempDir& dir, const std::vector<std::string>& bodies) {
  const std::string path = dir.write("scrapes.json", json(bodies).dump());
  const char* script = R"(
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for body in json.load(open(sys.argv[1])):
    samples, types = {}, {}
    for family in text_string_to_metric_families(body):
        types[family.name] = family.type
        for s in family.samples:
            samples.setdefault(s.name, []).append({'labels': s.labels, 'value': s.value})
    out.append({'samples': samples, 'types': types})
print(json.dumps(out))
)";
  const ProcessResult parsed = run_process({g_python, "-c", script, path});
  BOOST_REQUIRE_MESSAGE(parsed.exit_code == 0, "prometheus_client refused a page: " << parsed.err);
  std::vector<Parsed> pages;
  for (const json& page : json::parse(parsed.out)) pages.push_back({page["samples"], page["types"]});
  return pages;
}

double value_of(const Parsed& parsed, const std::string& sample) {
  BOOST_REQUIRE_MESSAGE(parsed.samples.contains(sample), "no sample " << sample);
  return parsed.samples[sample][0]["value"].get<double>();
}

// Scrapes every 50 ms on its own thread until told to stop; keeps every page that answered.
class Scraper {
 public:
  explicit Scraper(int port) : thread_([this, port] {
    while (!stop_) {
      std::string page = scrape(port);
      if (!page.empty()) {
        std::lock_guard<std::mutex> lock(mutex_);
        pages_.push_back(std::move(page));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }) {}
  ~Scraper() { stop(); }
  std::vector<std::string> stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return pages_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> pages_;
  std::thread thread_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_endpoint_is_scraped_while_the_run_trains) {
  TempDir dir("watch_prometheus");
  const int port = free_port();
  const std::string run_dir = dir.path() + "/run";
  const std::int64_t steps = 2000;
  const std::string config = dir.write("job.toml", small_job(run_dir, steps, fmt::format("127.0.0.1:{}", port), 100));
  Scraper scraper(port);
  const ProcessResult run = run_llmrt({"run", config});
  const std::vector<std::string> pages = scraper.stop();
  BOOST_TEST_INFO("stderr: " << run.err);
  BOOST_REQUIRE(run.exit_code == 0);
  BOOST_TEST(!has(run.err, "warning"));
  BOOST_TEST_MESSAGE(pages.size() << " scrapes answered during " << steps << " steps");
  BOOST_REQUIRE_MESSAGE(!pages.empty(), "no scrape answered while the run trained");
  // The endpoint closed with the run.
  BOOST_TEST(scrape(port).empty());

  const std::vector<std::string> metrics = read_lines(run_dir + "/metrics.jsonl");
  BOOST_REQUIRE_EQUAL(metrics.size(), static_cast<std::size_t>(steps));
  std::vector<std::string> bodies;
  for (const std::string& page : pages) {
    BOOST_TEST_INFO(page);
    BOOST_REQUIRE(has(page, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    bodies.push_back(page.substr(page.find("\r\n\r\n") + 4));
  }
  std::size_t mid_run = 0;
  for (const Parsed& parsed : parse(dir, bodies)) {
    const auto k = static_cast<std::int64_t>(value_of(parsed, "llmrt_steps_total"));
    BOOST_REQUIRE(k >= 0 && k <= steps);
    BOOST_TEST(value_of(parsed, "llmrt_tokens_total") == 32.0 * static_cast<double>(k));  // 2 sequences of 16
    BOOST_TEST(value_of(parsed, "llmrt_step_duration_seconds_count") == static_cast<double>(k));
    if (k == 0) continue;
    ++mid_run;
    // The page is one step's, all of it: the gauges are those metrics.jsonl has for step k.
    const json step = json::parse(metrics[static_cast<std::size_t>(k - 1)]);
    BOOST_TEST(step["step"].get<std::int64_t>() == k);
    BOOST_TEST(value_of(parsed, "llmrt_loss") == step["loss"].get<double>());
    BOOST_TEST(value_of(parsed, "llmrt_learning_rate") == step["lr"].get<double>());
    BOOST_TEST(value_of(parsed, "llmrt_grad_norm") == step["grad_norm"].get<double>());
    BOOST_TEST(value_of(parsed, "llmrt_tokens_per_second") == step["tokens_per_s"].get<double>());
    BOOST_TEST(value_of(parsed, "llmrt_mfu_ratio") == step["mfu"].get<double>());
    double previous = 0;  // cumulative buckets, +Inf last and equal to the count
    for (const json& bucket : parsed.samples["llmrt_step_duration_seconds_bucket"]) {
      BOOST_TEST(bucket["value"].get<double>() >= previous);
      previous = bucket["value"].get<double>();
    }
    BOOST_TEST(parsed.samples["llmrt_step_duration_seconds_bucket"].back()["labels"]["le"] == "+Inf");
    BOOST_TEST(previous == static_cast<double>(k));
    const json& types = parsed.types;
    BOOST_TEST(types["llmrt_steps"] == "counter");  // the parser names a counter's family without _total
    BOOST_TEST(types["llmrt_tokens"] == "counter");
    BOOST_TEST(types["llmrt_step_duration_seconds"] == "histogram");
    for (const char* gauge : {"llmrt_loss", "llmrt_learning_rate", "llmrt_grad_norm", "llmrt_tokens_per_second",
                              "llmrt_mfu_ratio"}) {
      BOOST_TEST(types[gauge] == "gauge", gauge);
    }
    // The planner chose the layout ([parallel] left on auto): its predicted bubble, none for pp = 1.
    BOOST_TEST(types["llmrt_pipeline_bubble_ratio"] == "gauge");
    BOOST_TEST(value_of(parsed, "llmrt_pipeline_bubble_ratio") == 0.0);
    BOOST_TEST(!types.contains("llmrt_gpu_utilization_ratio"));  // a CPU rank: no GPU series
  }
  BOOST_TEST(mid_run >= 1u, "no scrape saw a step");
}

int main(int argc, char* argv[]) {
  g_python = tools_python("prometheus_client");
  if (g_python.empty()) {
    std::printf("SKIP: no Python here imports prometheus_client (scripts/install-tools.sh puts it in .venv-tools)\n");
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
