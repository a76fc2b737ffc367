// Writing checkpoints while training goes on. At a checkpoint step each writing rank (dp rank 0
// of every pp × tp place) copies its parameters and optimizer states to host memory (under
// ZeRO-1 the other dp ranks send it their pieces of the states, one bucket at a time) and a
// background thread writes them as one safetensors file into checkpoint.dir/step_N.tmp/; at
// each later step boundary the ranks agree whether every file is in, and then rank 0 writes
// config.toml and manifest.json, renames step_N.tmp to step_N, moves `latest` and prunes to
// checkpoint.keep. A crash at any point leaves the previous checkpoint and `latest` as they were.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ckpt/manifest.h"
#include "comm/world.h"
#include "exec/trainer.h"
#include "util/status.h"

namespace llmrt {

// What every checkpoint of this run shares: the manifest fields that do not change with the
// step, and the resolved config text written beside it.
struct CheckpointRun {
  std::string dir;             // checkpoint.dir
  int keep = 3;
  Manifest base;               // step, files and tensors left empty
  std::string config_text;     // the run's resolved config (config.toml)
  std::int64_t kill_during_write_step = -1;  // testing (--inject-fault R:S:ckpt-kill): die mid-write
};

class CheckpointWriter {
 public:
  CheckpointWriter(CheckpointRun run, Trainer& trainer, const World& world);
  ~CheckpointWriter();  // joins a write still running (its checkpoint stays a .tmp)
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // At a step boundary, on every rank: snapshot this rank's tensors and start writing them.
  // A checkpoint still being written is finished first.
  Status start(std::int64_t step);
  // Collective, at every step boundary while one is pending: when every rank's file is in (or
  // `wait`: after waiting for it), finish the checkpoint. Returns whether none is pending now.
  Result<bool> poll(bool wait);
  bool pending() const { return pending_step_ >= 0; }
  // The last checkpoint made complete ("" when none), and its step.
  const std::string& last_kept() const { return last_kept_; }
  std::int64_t last_kept_step() const { return last_kept_step_; }

 private:
  struct Snapshot;
  std::unique_ptr<Snapshot> take_snapshot(std::int64_t step);
  void write_file(Snapshot& snapshot);  // the background thread
  Status finish(std::int64_t step, const std::string& record);
  Status publish(std::int64_t step, const std::vector<std::string>& records);
  Status prune() const;

  CheckpointRun run_;
  Trainer* trainer_;
  const World* world_;
  bool writer_ = false;  // dp rank 0
  std::int64_t pending_step_ = -1;
  TrainerState pending_state_;  // the trainer's state at the snapshot
  std::unique_ptr<Snapshot> snapshot_;
  std::thread thread_;
  std::atomic<bool> written_{false};
  Status write_status_;
  std::string last_kept_;
  std::int64_t last_kept_step_ = -1;
};

// Rank 0 removes the ".tmp" step folders a crash left in checkpoint.dir (never read).
void remove_unfinished_checkpoints(const std::string& checkpoint_dir);

}  // namespace llmrt
