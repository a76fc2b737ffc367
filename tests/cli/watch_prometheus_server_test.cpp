// A real Prometheus server (Debian's `prometheus`, found on PATH) scrapes a running llmrt over
// loopback every second; its query API then holds llmrt's series. Skips (exit 77) without it.
#define BOOST_TEST_MODULE cli_watch_prometheus_server
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <thread>

#include <nlohmann/json.hpp>

#include "watch_support.h"

using namespace llmrt::test;
using nlohmann::json;

namespace {

std::string g_prometheus;  // set by main

// GET on 127.0.0.1:port with curl; "" when nothing answered.
std::string http_get(int port, const std::string& path) {
  const ProcessResult got =
      run_process({"curl", "-s", "-f", "--max-time", "5", fmt::format("http://127.0.0.1:{}{}", port, path)}, {}, "", 10);
  return got.exit_code == 0 ? got.out : "";
}

// The value of an instant query's first result, if any.
std::optional<double> query(int port, const std::string& promql) {
  const std::string body = http_get(port, "/api/v1/query?query=" + promql);
  if (body.empty()) return std::nullopt;
  const json answer = json::parse(body);
  if (answer["status"] != "success" || answer["data"]["result"].empty()) return std::nullopt;
  return std::stod(answer["data"]["result"][0]["value"][1].get<std::string>());
}

bool wait_until(const std::function<bool()>& done, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(prometheus_scrapes_a_running_llmrt) {
  TempDir dir("watch_prometheus_server");
  const int llmrt_port = free_port();
  const int prometheus_port = free_port();
  const std::string scrape_config = dir.write("prometheus.yml", fmt::format(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: llmrt
    static_configs:
      - targets: ["127.0.0.1:{}"]
)",
                                                                           llmrt_port));
  BackgroundProcess prometheus({g_prometheus, "--config.file=" + scrape_config, "--storage.tsdb.path=" + dir.path() + "/tsdb",
                                fmt::format("--web.listen-address=127.0.0.1:{}", prometheus_port)},
                               dir.path() + "/prometheus.log");
  BOOST_REQUIRE_MESSAGE(wait_until([&] { return !http_get(prometheus_port, "/-/ready").empty(); }, 60),
                        "Prometheus did not start: see " << dir.path() << "/prometheus.log");
  // A run far longer than the test waits: stopped once Prometheus has seen it train.
  const std::string run_dir = dir.path() + "/run";
  BackgroundProcess llmrt({LLMRT_CLI_BINARY, "run", dir.write("job.toml", small_job(run_dir, 10000000,
                                                                                   fmt::format("127.0.0.1:{}", llmrt_port)))},
                          dir.path() + "/llmrt.log");
  const auto seen = [&] {
    const auto steps = query(prometheus_port, "llmrt_steps_total%7Bjob%3D%22llmrt%22%7D");
    return steps && *steps >= 1;
  };
  BOOST_TEST(wait_until(seen, 60), "Prometheus never stored llmrt_steps_total");
  BOOST_TEST(llmrt.running());
  BOOST_TEST(query(prometheus_port, "up%7Bjob%3D%22llmrt%22%7D").value_or(0) == 1.0);
  const auto loss = query(prometheus_port, "llmrt_loss");
  BOOST_TEST((loss && *loss > 0 && *loss < 10));
  // The histogram as PromQL reads it: a median step time from the buckets.
  const auto median = query(prometheus_port, "histogram_quantile(0.5%2C%20llmrt_step_duration_seconds_bucket)");
  BOOST_TEST((median && *median > 0));
  llmrt.stop();
}

int main(int argc, char* argv[]) {
  const ProcessResult found = run_process({"sh", "-c", "command -v prometheus && command -v curl"});
  if (found.exit_code != 0) {
    std::printf("SKIP: needs Debian's prometheus server and curl on PATH\n");
    return 77;
  }
  g_prometheus = found.out.substr(0, found.out.find('\n'));
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
