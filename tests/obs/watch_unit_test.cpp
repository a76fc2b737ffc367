// Watching a run, the parts that need no reader program: CRC-32C and the TensorBoard record bytes
// against the worked examples of the formats reference, the Prometheus page (histogram, escaping,
// GPU series from fake readings), the "host:port" parser, and the endpoint over a real socket.
#define BOOST_TEST_MODULE obs_watch_unit
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "obs/crc32c.h"
#include "obs/nvml_reader.h"
#include "obs/prometheus_endpoint.h"
#include "obs/prometheus_text.h"
#include "obs/tensorboard_writer.h"
#include "support/process.h"
#include "util/host_port.h"

using namespace llmrt;
using namespace llmrt::obs;

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) out.push_back(static_cast<char>(value));
  return out;
}

std::string hex(std::string_view data) {
  std::string out;
  for (unsigned char c : data) out += fmt::format("{:02x} ", c);
  return out;
}

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

// A socket bound and listening on 127.0.0.1 at a port the kernel picked: held while it lives.
struct HeldPort {
  int fd = -1;
  int port = 0;
  HeldPort() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    BOOST_REQUIRE(listen(fd, 1) == 0);
    socklen_t length = sizeof(address);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~HeldPort() { close(fd); }
};

int free_port() {
  HeldPort held;
  return held.port;  // closed on return: free again, and not in TIME_WAIT (nothing connected)
}

// One HTTP/1.0 GET over a plain socket: the whole response, headers and body.
std::string http_get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    BOOST_REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  return response;
}

class FakeGpus final : public GpuReader {
 public:
  std::vector<GpuReading> read() override {
    GpuReading first{0, "GPU-aaaa", "NVIDIA H100 80GB HBM3", 0.75, 42.0 * (1 << 30), 61, 512.5, 1.25e6};
    GpuReading second{1, "GPU-bbbb", "NVIDIA \"odd\" name", std::nullopt, 1024, std::nullopt, std::nullopt, std::nullopt};
    return {first, second};
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(crc32c_check_values) {
  BOOST_TEST(crc32c("123456789") == 0xE3069283u);
  BOOST_TEST(masked_crc32c("") == 0xA282EAD8u);
  BOOST_TEST(crc32c(std::string(32, '\0')) == 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
}

BOOST_AUTO_TEST_CASE(records_match_the_worked_examples_byte_for_byte) {
  // Event{wall_time=1700000000.0, file_version="brain.Event:2"}, then llmrt's source_metadata.
  const std::string version_payload = bytes({0x09, 0x00, 0x00, 0x00, 0x40, 0xfc, 0x54, 0xd9, 0x41, 0x1a, 0x0d}) +
                                      "brain.Event:2";
  const std::string version = encode_file_version_event(1700000000.0);
  BOOST_TEST(hex(version.substr(0, version_payload.size())) == hex(version_payload));
  BOOST_TEST(hex(version.substr(version_payload.size())) == hex(bytes({0x52, 0x07, 0x0a, 0x05}) + "llmrt"));
  const std::string framed = frame_record(version_payload);
  BOOST_TEST(hex(framed.substr(0, 12)) == hex(bytes({0x18, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x7f, 0x4b, 0x22})));
  BOOST_TEST(hex(framed.substr(12 + version_payload.size())) == hex(bytes({0xec, 0xed, 0x8f, 0x9d})));

  // Event{wall_time=1700000001.5, step=100, summary{value{tag="train/loss", simple_value=2.5}}}.
  const std::string scalar = encode_scalar_event(1700000001.5, 100, "train/loss", 2.5f);
  const std::string expected = bytes({0x09, 0x00, 0x00, 0x60, 0x40, 0xfc, 0x54, 0xd9, 0x41, 0x10, 0x64, 0x2a, 0x13,
                                      0x0a, 0x11, 0x0a, 0x0a}) +
                               "train/loss" + bytes({0x15, 0x00, 0x00, 0x20, 0x40});
  BOOST_TEST(hex(scalar) == hex(expected));
  const std::string record = frame_record(scalar);
  BOOST_TEST(hex(record.substr(8, 4)) == hex(bytes({0x29, 0xed, 0xa9, 0x50})));
  BOOST_TEST(hex(record.substr(record.size() - 4)) == hex(bytes({0xa6, 0xe3, 0x01, 0xf2})));
}

BOOST_AUTO_TEST_CASE(session_start_and_negative_steps) {
  // Event{wall_time, step=7, session_log{status: START}}: field 7, SessionLog.status = 1.
  const std::string start = encode_session_start_event(1700000000.0, 7);
  BOOST_TEST(hex(start.substr(9)) == hex(bytes({0x10, 0x07, 0x3a, 0x02, 0x08, 0x01})));
  // int64 -1: a ten-byte varint, as protoc writes it.
  const std::string negative = encode_scalar_event(0, -1, "t", 0);
  BOOST_TEST(hex(negative.substr(9, 11)) == hex(bytes({0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})));
  BOOST_TEST(event_file_name(1700000000, "gpu01", 4242) == "events.out.tfevents.1700000000.gpu01.4242");
  BOOST_TEST(event_file_name(999, "h", 1) == "events.out.tfevents.0000000999.h.1");
}

BOOST_AUTO_TEST_CASE(prometheus_page_before_and_after_steps) {
  TrainingMetrics training;
  std::string page = format_prometheus_text(training, {}, "host");
  BOOST_TEST(has(page, "# TYPE llmrt_steps_total counter\nllmrt_steps_total 0\n"));
  BOOST_TEST(!has(page, "llmrt_loss"));  // no step yet: no made-up loss
  BOOST_TEST(!has(page, "llmrt_pipeline_bubble_ratio"));
  BOOST_TEST(has(page, "llmrt_step_duration_seconds_bucket{le=\"+Inf\"} 0\n"));

  training.record({3.25, 6e-4, 1.5, 0.02, 4096, 204800, 0.41});
  training.record({3.0, 5e-4, 1.25, 0.3, 4096, 13653.3, 0.35});
  training.pipeline_bubble_ratio = 0.125;
  page = format_prometheus_text(training, {}, "host");
  BOOST_TEST_INFO(page);
  BOOST_TEST(has(page, "# HELP llmrt_loss "));
  BOOST_TEST(has(page, "# TYPE llmrt_loss gauge\nllmrt_loss 3\n"));
  BOOST_TEST(has(page, "llmrt_steps_total 2\n"));
  BOOST_TEST(has(page, "llmrt_tokens_total 8192\n"));
  BOOST_TEST(has(page, "llmrt_learning_rate 0.0005\n"));
  BOOST_TEST(has(page, "# TYPE llmrt_step_duration_seconds histogram\n"));
  BOOST_TEST(has(page, "llmrt_step_duration_seconds_bucket{le=\"0.01\"} 0\n"));
  BOOST_TEST(has(page, "llmrt_step_duration_seconds_bucket{le=\"0.025\"} 1\n"));
  BOOST_TEST(has(page, "llmrt_step_duration_seconds_bucket{le=\"0.25\"} 1\n"));
  BOOST_TEST(has(page, "llmrt_step_duration_seconds_bucket{le=\"0.5\"} 2\n"));
  BOOST_TEST(has(page, "llmrt_step_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
  BOOST_TEST(has(page, "llmrt_step_duration_seconds_count 2\n"));
  BOOST_TEST(has(page, "llmrt_step_duration_seconds_sum 0.32\n"));
  BOOST_TEST(has(page, "llmrt_pipeline_bubble_ratio 0.125\n"));
  BOOST_TEST(page.back() == '\n');
  // Buckets in increasing order, HELP and TYPE once per family.
  BOOST_TEST(page.find("le=\"0.005\"") < page.find("le=\"120\""));
  BOOST_TEST(page.find("le=\"120\"") < page.find("le=\"+Inf\""));
}

BOOST_AUTO_TEST_CASE(gpu_series_carry_dcgm_labels_and_skip_what_is_missing) {
  FakeGpus gpus;
  const std::string page = format_prometheus_text(TrainingMetrics{}, gpus.read(), "gpu01");
  BOOST_TEST_INFO(page);
  BOOST_TEST(has(page, "# TYPE llmrt_gpu_utilization_ratio gauge\n"
                       "llmrt_gpu_utilization_ratio{gpu=\"0\",UUID=\"GPU-aaaa\",modelName=\"NVIDIA H100 80GB HBM3\","
                       "Hostname=\"gpu01\"} 0.75\n"));
  BOOST_TEST(has(page, "llmrt_gpu_memory_used_bytes{gpu=\"1\",UUID=\"GPU-bbbb\",modelName=\"NVIDIA \\\"odd\\\" name\","
                       "Hostname=\"gpu01\"} 1024\n"));
  BOOST_TEST(has(page, "# TYPE llmrt_gpu_energy_joules_total counter\n"));
  BOOST_TEST(has(page, "llmrt_gpu_power_watts{gpu=\"0\""));
  BOOST_TEST(!has(page, "llmrt_gpu_power_watts{gpu=\"1\""));  // not read: not made up
  std::size_t gpu_families = 0;  // one TYPE line per family, however many GPUs
  for (std::size_t at = 0; (at = page.find("# TYPE llmrt_gpu_", at)) != std::string::npos; ++at) ++gpu_families;
  BOOST_TEST(gpu_families == 5u);
}

BOOST_AUTO_TEST_CASE(values_and_labels_are_escaped_as_the_format_says) {
  BOOST_TEST(format_sample_value(std::nan("")) == "NaN");
  BOOST_TEST(format_sample_value(INFINITY) == "+Inf");
  BOOST_TEST(format_sample_value(-INFINITY) == "-Inf");
  BOOST_TEST(format_sample_value(1e21) == "1e+21");
  BOOST_TEST(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

BOOST_AUTO_TEST_CASE(nvml_units_become_base_units) {
  NvmlRawReading raw;
  raw.index = 3;
  raw.uuid = "GPU-x";
  raw.name = "NVIDIA A100-SXM4-80GB";
  raw.utilization_percent = 87;
  raw.memory_used_bytes = 1ull << 33;
  raw.temperature_celsius = 55;
  raw.power_milliwatts = 312500;
  raw.energy_millijoules = 9876543210ull;
  const GpuReading reading = to_gpu_reading(raw);
  BOOST_TEST(reading.index == 3);
  BOOST_TEST(*reading.utilization_ratio == 0.87);
  BOOST_TEST(*reading.memory_used_bytes == 8589934592.0);
  BOOST_TEST(*reading.temperature_celsius == 55.0);
  BOOST_TEST(*reading.power_watts == 312.5);
  BOOST_TEST(*reading.energy_joules == 9876543.21);
  BOOST_TEST(!to_gpu_reading(NvmlRawReading{}).power_watts.has_value());
}

// On a host without the NVIDIA driver nothing fails and nothing is read; with it, every GPU is.
BOOST_AUTO_TEST_CASE(nvml_absent_is_not_an_error) {
  std::string why;
  std::unique_ptr<GpuReader> reader = open_nvml_reader(&why);
  if (!reader) {
    BOOST_TEST_MESSAGE("no NVML here: " << why);
    BOOST_TEST(!why.empty());
    return;
  }
  for (const GpuReading& gpu : reader->read()) BOOST_TEST(gpu.uuid.rfind("GPU-", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(host_port_parsing) {
  const auto ok = parse_host_port("127.0.0.1:9464");
  BOOST_REQUIRE(ok.ok());
  BOOST_TEST(ok->host == "127.0.0.1");
  BOOST_TEST(ok->port == 9464);
  const auto v6 = parse_host_port("[::1]:80");
  BOOST_REQUIRE(v6.ok());
  BOOST_TEST(v6->host == "::1");
  BOOST_TEST(format_host_port(*v6) == "[::1]:80");
  BOOST_TEST(parse_host_port("localhost:65535").ok());
  for (const char* bad : {"abc", "abc:", ":9464", "host:abc", "host:0", "host:65536", "host:99999999999999",
                          "host:-1", "host:+80", "::1:80", "a b:80", "host:80x"}) {
    BOOST_TEST_INFO(bad);
    const auto parsed = parse_host_port(bad);
    BOOST_TEST(!parsed.ok());
    if (!parsed.ok()) BOOST_TEST(parsed.error().exit_code() == 2);
  }
  BOOST_TEST(parse_host_port("host:65536").error().message().find("out of range") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(endpoint_serves_the_page_over_http) {
  const int port = free_port();
  auto endpoint = PrometheusEndpoint::start({"127.0.0.1", port}, std::make_unique<FakeGpus>(), "here");
  BOOST_REQUIRE_MESSAGE(endpoint.ok(), (endpoint.ok() ? "" : endpoint.error().message()));
  (*endpoint)->record_step({2.5, 1e-3, 0.5, 0.1, 1000, 10000, 0.2});
  const std::string response = http_get(port, "/metrics");
  BOOST_TEST_INFO(response);
  BOOST_TEST(response.rfind("HTTP/1.", 0) == 0u);
  BOOST_TEST(has(response, " 200 "));
  BOOST_TEST(has(response, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  BOOST_TEST(has(response, "\r\n\r\n# HELP llmrt_steps_total"));
  BOOST_TEST(has(response, "llmrt_loss 2.5\n"));
  BOOST_TEST(has(response, "Hostname=\"here\""));
  BOOST_TEST(has(http_get(port, "/nothing"), " 404 "));
  endpoint = Error(ErrorKind::kRuntime, "");  // stops it: the port is closed again
  BOOST_TEST(http_get(port, "/metrics").empty());
}

BOOST_AUTO_TEST_CASE(a_taken_port_is_an_error_naming_the_address) {
  HeldPort held;
  auto endpoint = PrometheusEndpoint::start({"127.0.0.1", held.port}, nullptr, "here");
  BOOST_REQUIRE(!endpoint.ok());
  BOOST_TEST_INFO(endpoint.error().message());
  BOOST_TEST(has(endpoint.error().message(), fmt::format("127.0.0.1:{}", held.port)));
  BOOST_TEST(has(endpoint.error().message(), "Address already in use"));
  // Nor does a second endpoint share a port the first holds (no SO_REUSEPORT).
  const int port = free_port();
  auto first = PrometheusEndpoint::start({"127.0.0.1", port}, nullptr, "here");
  BOOST_REQUIRE(first.ok());
  BOOST_TEST(!PrometheusEndpoint::start({"127.0.0.1", port}, nullptr, "here").ok());
  // An address that is not this host's cannot be bound.
  BOOST_TEST(!PrometheusEndpoint::start({"192.0.2.1", port}, nullptr, "here").ok());
}

namespace {

void collect_exprs(const nlohmann::json& node, std::vector<std::string>& out) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "expr" && value.is_string()) out.push_back(value.get<std::string>());
      else collect_exprs(value, out);
    }
  } else if (node.is_array()) {
    for (const auto& item : node) collect_exprs(item, out);
  }
}

}  // namespace

// examples/grafana/llmrt-dashboard.json: valid JSON, a Prometheus datasource variable every
// query goes through, and every expression over series the endpoint exports — all of them.
BOOST_AUTO_TEST_CASE(the_grafana_dashboard_queries_what_llmrt_exports) {
  const std::string path = llmrt::test::source_path("examples/grafana/llmrt-dashboard.json");
  std::ifstream file(path);
  BOOST_REQUIRE_MESSAGE(file, "cannot read " << path);
  const nlohmann::json dashboard = nlohmann::json::parse(file);  // throws, and fails the test, on bad JSON
  bool has_datasource_variable = false;
  for (const auto& variable : dashboard["templating"]["list"]) {
    has_datasource_variable |= variable["type"] == "datasource" && variable["query"] == "prometheus" &&
                               variable["name"] == "datasource";
  }
  BOOST_TEST(has_datasource_variable);
  for (const auto& panel : dashboard["panels"]) {
    if (panel["type"] == "row") continue;
    BOOST_TEST(panel["datasource"]["uid"] == "${datasource}", panel["title"]);
    for (const auto& target : panel["targets"]) BOOST_TEST(target["datasource"]["uid"] == "${datasource}");
  }
  const std::vector<std::string> names = exported_metric_names();
  const std::set<std::string> exported(names.begin(), names.end());
  std::set<std::string> used;
  std::vector<std::string> exprs;
  collect_exprs(dashboard, exprs);
  BOOST_TEST(exprs.size() >= 10u);
  const std::regex metric(R"(\bllmrt_[a-z0-9_]+)");
  const std::regex histogram_series("(.*)_(bucket|sum|count)$");
  for (const std::string& expr : exprs) {
    BOOST_TEST_CONTEXT(expr) {
      std::size_t named = 0;
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric); it != std::sregex_iterator(); ++it) {
        std::string name = it->str();
        std::smatch parts;
        if (!exported.count(name) && std::regex_match(name, parts, histogram_series)) name = parts[1];
        BOOST_TEST(exported.count(name) == 1u, name << " is not a metric llmrt exports");
        used.insert(name);
        ++named;
      }
      BOOST_TEST(named >= 1u);
    }
  }
  for (const std::string& name : exported) BOOST_TEST(used.count(name) == 1u, "no panel shows " << name);
}
