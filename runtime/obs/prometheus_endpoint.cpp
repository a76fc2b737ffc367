#include "obs/prometheus_endpoint.h"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <httplib.h>

namespace llmrt::obs {
namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// cpp-httplib's default sets SO_REUSEPORT, which would let a second run share the port and split
// the scrapes between them; SO_REUSEADDR alone only reuses a port in TIME_WAIT.
void reuse_address_only(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

PrometheusEndpoint::PrometheusEndpoint(std::unique_ptr<GpuReader> gpus, std::string host_label)
    : server_(std::make_unique<httplib::Server>()), gpus_(std::move(gpus)), host_label_(std::move(host_label)) {}

Result<std::unique_ptr<PrometheusEndpoint>> PrometheusEndpoint::start(const HostPort& address,
                                                                     std::unique_ptr<GpuReader> gpus,
                                                                     std::string host_label) {
  std::unique_ptr<PrometheusEndpoint> endpoint(new PrometheusEndpoint(std::move(gpus), std::move(host_label)));
  httplib::Server& server = *endpoint->server_;
  server.new_task_queue = [] { return new httplib::ThreadPool(1); };
  server.set_socket_options(reuse_address_only);
  server.set_keep_alive_timeout(1);  // bounds how long stopping waits on an idle scraper's connection
  PrometheusEndpoint* self = endpoint.get();
  server.Get("/metrics", [self](const httplib::Request&, httplib::Response& response) {
    response.set_content(self->page(), kContentType);
  });
  errno = 0;
  if (!server.bind_to_port(address.host, address.port)) {
    const int error = errno;
    return runtime_error("cannot listen on {}: {}", format_host_port(address),
                         error != 0 ? std::strerror(error) : "the address cannot be bound");
  }
  endpoint->thread_ = std::thread([self] {
    self->server_->listen_after_bind();
    self->listen_returned_ = true;
  });
  // stop() only acts on a running server: wait until it runs (or gave up), so that the
  // destructor's stop() cannot come too early and leave the thread listening.
  while (!server.is_running() && !endpoint->listen_returned_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (endpoint->listen_returned_) return runtime_error("cannot serve on {}: listen failed", format_host_port(address));
  return endpoint;
}

PrometheusEndpoint::~PrometheusEndpoint() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void PrometheusEndpoint::record_step(const StepSample& step) {
  std::lock_guard<std::mutex> lock(mutex_);
  training_.record(step);
}

void PrometheusEndpoint::set_pipeline_bubble_ratio(double ratio) {
  std::lock_guard<std::mutex> lock(mutex_);
  training_.pipeline_bubble_ratio = ratio;
}

std::string PrometheusEndpoint::page() const {
  TrainingMetrics training;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    training = training_;
  }
  std::vector<GpuReading> gpus;
  if (gpus_) {
    std::lock_guard<std::mutex> lock(gpus_mutex_);
    gpus = gpus_->read();
  }
  return format_prometheus_text(training, gpus, host_label_);
}

}  // namespace llmrt::obs
