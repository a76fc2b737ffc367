// Collects the verifier's complaints, keeping the first offending action of each rank,
// and turns them into one input error. Internal to runtime/schedule.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <llmrt/action.h>
#include <llmrt/schedule_shape.hpp>

#include "util/status.h"

namespace llmrt {

class VerifierFindings {
 public:
  explicit VerifierFindings(const std::vector<std::vector<llmrt_action>>& per_rank)
      : per_rank_(per_rank), first_(per_rank.size()) {}

  // `index` == the list's size means "at the end of the list" (something is missing).
  void add(int rank, size_t index, std::string what);
  bool has(int rank) const { return first_[rank].has_value(); }
  bool empty() const;
  // "<title> in pipeline schedule (p=.., m=.., v=..):\n  rank 2, action 17 (...): what".
  Error to_error(const ScheduleShape& shape, std::string_view title) const;

 private:
  struct Finding {
    size_t index;
    std::string what;
  };
  const std::vector<std::vector<llmrt_action>>& per_rank_;
  std::vector<std::optional<Finding>> first_;  // [rank]
};

// The checks of verify_schedule, one group each (see verifier.h for the semantics).
void check_well_formed(const ScheduleShape& shape,
                       const std::vector<std::vector<llmrt_action>>& per_rank,
                       VerifierFindings& findings);
// Fills peak_in_flight / peak_pending_weight_grads ([rank]) while walking each list.
void check_pass_order(const ScheduleShape& shape,
                      const std::vector<std::vector<llmrt_action>>& per_rank,
                      VerifierFindings& findings, std::vector<int>& peak_in_flight,
                      std::vector<int>& peak_pending_weight_grads);
void check_transfers_match(const ScheduleShape& shape,
                           const std::vector<std::vector<llmrt_action>>& per_rank,
                           VerifierFindings& findings);
void check_no_deadlock(const ScheduleShape& shape,
                       const std::vector<std::vector<llmrt_action>>& per_rank,
                       VerifierFindings& findings);

}  // namespace llmrt
