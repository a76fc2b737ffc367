// The executor's Progress backed by the watchdog: every action it reports and every request it
// waits on is watched, so a rank stuck longer than [train].timeout_s stops the job (exit 3).
#pragma once

#include <memory>

#include "comm/progress.h"
#include "obs/watchdog.h"

namespace llmrt::obs {

class WatchdogProgress final : public Progress {
 public:
  explicit WatchdogProgress(std::unique_ptr<Watchdog> watchdog) : watchdog_(std::move(watchdog)) {}
  void begin_action(std::string description, int waits_for_world_rank) override {
    watchdog_->begin_action(std::move(description), waits_for_world_rank);
  }
  void end_action() override { watchdog_->end_action(); }
  // Collectives and transfers are started non-blocking, then waited on here, inside the action
  // the executor already reported (so the table names the step's all-reduce).
  Status wait(CommRequest& request) override {
    return watchdog_->wait_until([&request] { return request.test(); });
  }
  using Progress::wait;

 private:
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace llmrt::obs
