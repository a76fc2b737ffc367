// What `check` and `run` both refuse before step 1 beyond the config, the plugins and the
// layout: a layout that cannot fit the memory it runs in (resolve_job), and data the run cannot
// read through (both commands, after placing the ranks on their hosts). Plus open_job's warnings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/spec.h"
#include "job/job.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// The planner's predicted memory per rank for `resolved` (predict_rank_memory_gib) against what
// each rank runs in: a GPU rank, its device's memory_gib (the topology's figure, the one `plan`
// uses; a launched run also holds the real card, place_rank); the CPU ranks of one node — every
// rank in a rehearsal — together, the RAM of this host, `host_ram_bytes` (MemTotal of
// /proc/meminfo; 0: unknown, not checked). The catalog's per-rank CPU figure is the planner's
// assumption for choosing layouts, not a fact about the host, and is not used here. An input
// error names the stage, the figures and which memory they were held against.
Status check_memory_fit(const OpenJob& job, const ResolvedJob& resolved, std::int64_t host_ram_bytes);

// train.cuda_graph = true where a CUDA graph of the step cannot apply, as an input error naming
// the key and the reason: a layout with more than one stage (pp or virtual stages), tp or dp
// above 1 (ZeRO acts only with dp > 1), train.detect_anomaly or train.guard_params (host checks
// between layer calls), a layer whose component does not declare LLMRT_LAYER_GRAPH_SAFE
// (named as model.layer[i]), or a rank on a CPU that is not a rehearsal (nothing to capture).
Status check_cuda_graph(const OpenJob& job, const ResolvedJob& resolved);

// The plan paragraph's line for train.cuda_graph = true (which check_cuda_graph accepted).
std::string cuda_graph_line(bool rehearsal);

// data.train and data.val as the trainer and the validator will read them (check_token_shards:
// headers, sizes, a window, every token id below model.vocab_size), and data.val holding one
// train.global_batch of windows. Returns the line `check` prints about them.
Result<std::string> check_training_data(const Spec& spec);

// Accepted, but worth a line on stderr from `check` and `run`: a warmup longer than the run
// (the rate never reaches lr; kept, since a smoke run shortens train.steps of a real config).
std::vector<std::string> train_warnings(const TrainSpec& train, const Registry& registry);

}  // namespace llmrt
