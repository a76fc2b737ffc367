// Writes a pipeline timeline (simulated or measured) as a Chrome trace JSON that Perfetto
// and chrome://tracing open: one process per rank, compute and transfer tracks inside.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "schedule/simulator.h"
#include "util/status.h"

namespace llmrt {

// {"traceEvents": [...], "otherData": {"label": label, ...}}. One complete ("X") event per
// action, ts/dur in microseconds; pid = rank (named "rank N"), tid 1 = compute,
// tid 2 = receive waits, tid 3.. = send lanes (overlapping transfers go to separate lanes,
// since events on one track must nest).
nlohmann::json timeline_to_chrome_trace(const SimulatedTimeline& timeline, std::string_view label);

// Writes `trace` to `path` through a temporary file renamed into place, so a reader never
// sees half a trace.
Status write_chrome_trace(const std::string& path, const nlohmann::json& trace);

}  // namespace llmrt
