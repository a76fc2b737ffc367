// The metrics endpoint: GET /metrics in Prometheus text format 0.0.4 (obs/prometheus_text.h),
// served by cpp-httplib on one background thread of rank 0. The training loop only updates a
// small struct under a mutex; the page is built, and the GPUs read, when a scraper asks.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "obs/gpu_reader.h"
#include "obs/prometheus_text.h"
#include "util/host_port.h"
#include "util/status.h"

namespace httplib {
class Server;
}

namespace llmrt::obs {

class PrometheusEndpoint {
 public:
  // Listens on `address` (only there: 127.0.0.1 stays on this machine) and serves from a thread.
  // An address that cannot be bound (in use, not this host's) is an error naming it and why;
  // the caller decides that training goes on. `gpus` may be null: no GPU series.
  static Result<std::unique_ptr<PrometheusEndpoint>> start(const HostPort& address, std::unique_ptr<GpuReader> gpus,
                                                           std::string host_label);
  ~PrometheusEndpoint();  // stops listening, closes the sockets, joins the thread
  PrometheusEndpoint(const PrometheusEndpoint&) = delete;
  PrometheusEndpoint& operator=(const PrometheusEndpoint&) = delete;

  void record_step(const StepSample& step);
  void set_pipeline_bubble_ratio(double ratio);
  // The page as a scrape would get it now.
  std::string page() const;

 private:
  PrometheusEndpoint(std::unique_ptr<GpuReader> gpus, std::string host_label);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  std::unique_ptr<GpuReader> gpus_;  // read on the server's thread only
  std::string host_label_;
  mutable std::mutex mutex_;
  TrainingMetrics training_;  // guarded by mutex_
  mutable std::mutex gpus_mutex_;
};

}  // namespace llmrt::obs
