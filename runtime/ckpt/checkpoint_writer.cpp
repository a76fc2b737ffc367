#include "ckpt/checkpoint_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ckpt/checkpoint_read.h"
#include "ckpt/safetensors.h"
#include "device/buffer.h"

namespace llmrt {
namespace fs = std::filesystem;
namespace {

// Writes `text` to `path` and fsyncs it: a manifest or `latest` is on disk before it is renamed.
Status write_synced(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return runtime_error("{}: cannot create: {}", path, std::strerror(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      return runtime_error("{}: cannot write: {}", path, why);
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const std::string why = std::strerror(errno);
  if (::close(fd) != 0 || !synced) {
    ::unlink(path.c_str());
    return runtime_error("{}: cannot write: {}", path, why);
  }
  return Status::success();
}

// A rename is durable once its folder is synced.
Status sync_dir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return runtime_error("{}: cannot open the folder: {}", path, std::strerror(errno));
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return runtime_error("{}: cannot sync the folder: {}", path, std::strerror(errno));
  return Status::success();
}

Status rename_path(const std::string& from, const std::string& to) {
  std::error_code error;
  fs::rename(from, to, error);
  if (error) return runtime_error("cannot rename {} to {}: {}", from, to, error.message());
  return Status::success();
}

}  // namespace

struct CheckpointWriter::Snapshot {
  std::int64_t step = 0;
  std::string path;                         // step_N.tmp/ppP-tpT.safetensors
  std::vector<float> params;                // (parameter_count) host copy
  std::vector<std::vector<float>> states;   // [state] (parameter_count) host copy
  std::vector<SafetensorsView> views;
  nlohmann::json record;                    // what rank 0 puts in the manifest
};

void remove_unfinished_checkpoints(const std::string& checkpoint_dir) {
  std::error_code error;
  for (const auto& item : fs::directory_iterator(checkpoint_dir, error)) {
    const std::string name = item.path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0 && name.rfind("step_", 0) == 0) {
      fs::remove_all(item.path(), error);
    }
  }
}

CheckpointWriter::CheckpointWriter(CheckpointRun run, Trainer& trainer, const World& world)
    : run_(std::move(run)), trainer_(&trainer), world_(&world), writer_(trainer.groups().coords().dp == 0) {}

CheckpointWriter::~CheckpointWriter() {
  if (thread_.joinable()) thread_.join();
}

// Host copies of this rank's parameters and optimizer states (device → host on a GPU), and the
// views of the tensors this rank writes: tp-replicated ones on tp rank 0 only, tied ones on the
// lowest stage that holds them.
std::unique_ptr<CheckpointWriter::Snapshot> CheckpointWriter::take_snapshot(std::int64_t step) {
  const auto begin = std::chrono::steady_clock::now();
  // The last checkpoint's host buffers are reused: their pages are already mapped.
  auto snap = snapshot_ ? std::move(snapshot_) : std::make_unique<Snapshot>();
  snap->views.clear();
  snap->step = step;
  ParamStore& params = trainer_->params();
  ProcessGroups& groups = trainer_->groups();
  const RankCoords& coords = groups.coords();
  const std::string file = fmt::format("pp{}-tp{}.safetensors", coords.pp, coords.tp);
  snap->path = fmt::format("{}/{}.tmp/{}", run_.dir, step_dir_name(step), file);
  const CopyKind to_host = copy_kind(groups.device().id(), cpu_device().id());
  auto copy_out = [&](const Buffer& buffer, std::vector<float>& out) {
    out.resize(buffer.count());
    return groups.device().copy(out.data(), buffer.data(), buffer.bytes(), to_host, nullptr);
  };
  if (ZeroShards* zero = trainer_->zero(); zero != nullptr && params.master_sharded()) {
    write_status_ = zero->gather_master(&snap->params);  // collective, as the states below
  } else {
    // Under ZeRO-1 with zero_overlap the step's all-gathers may still be filling the buffer.
    write_status_ = params.settle();
    if (write_status_.ok()) write_status_ = copy_out(params.param_buffer(), snap->params);
  }
  snap->states.resize(trainer_->optimizer().states().size());
  for (std::size_t s = 0; s < snap->states.size(); ++s) {
    const Buffer& state = trainer_->optimizer().states()[s];
    if (ZeroShards* zero = trainer_->zero()) {  // collective: called whatever came before
      Status gathered = zero->gather_state(state, &snap->states[s]);
      if (write_status_.ok()) write_status_ = std::move(gathered);
    } else if (write_status_.ok()) {
      write_status_ = copy_out(state, snap->states[s]);
    }
  }
  const TrainerState trainer_state = trainer_->state();
  snap->record = {{"name", file}, {"pp", coords.pp}, {"tp", coords.tp}, {"rng_offset", trainer_state.rng_offset},
                  {"tensors", nlohmann::json::array()}};
  const auto& names = trainer_->optimizer().state_names();
  for (const ParamEntry& entry : params.entries()) {
    if (entry.shard_dim == LLMRT_NO_SHARD && coords.tp != 0) continue;
    const Collectives* tie = entry.tied ? groups.tie(entry.name) : nullptr;
    if (tie != nullptr && tie->rank() != 0) continue;
    auto bytes_of = [&](const std::vector<float>& flat) {
      return std::as_bytes(std::span<const float>(flat.data() + entry.offset, entry.count));
    };
    snap->views.push_back({entry.name, "F32", entry.local_shape, bytes_of(snap->params)});
    for (std::size_t s = 0; s < names.size(); ++s) {
      snap->views.push_back({entry.name + "/" + names[s], "F32", entry.local_shape, bytes_of(snap->states[s])});
    }
    snap->record["tensors"].push_back({{"name", entry.name}, {"global_shape", entry.global_shape},
                                       {"shard_dim", entry.shard_dim}, {"tied", entry.tied}});
  }
  snap->record["snapshot_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  return snap;
}

void CheckpointWriter::write_file(Snapshot& snap) {
  std::error_code error;
  fs::create_directories(fs::path(snap.path).parent_path(), error);
  if (error) {
    write_status_ = runtime_error("{}: cannot create the folder: {}", fs::path(snap.path).parent_path().string(),
                                  error.message());
    written_ = true;
    return;
  }
  const auto begin = std::chrono::steady_clock::now();
  auto written = write_safetensors(snap.path, snap.views, {{"step", std::to_string(snap.step)}});
  snap.record["write_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  if (snap.step == run_.kill_during_write_step) {
    // Testing: the state a SIGKILL halfway through the write leaves on disk.
    if (written) ::truncate(snap.path.c_str(), static_cast<off_t>(written->bytes / 2));
    std::fprintf(stderr, "llmrt fault injection (testing only): killed while writing %s\n", snap.path.c_str());
    std::fflush(stderr);
    std::raise(SIGKILL);
  }
  if (written) {
    snap.record["bytes"] = written->bytes;
    snap.record["crc32"] = written->crc32;
  } else {
    write_status_ = written.error();
  }
  written_ = true;
}

Status CheckpointWriter::start(std::int64_t step) {
  if (pending()) {
    auto finished = poll(/*wait=*/true);
    if (!finished) return finished.error();
  }
  pending_step_ = step;
  pending_state_ = trainer_->state();
  written_ = !writer_;
  write_status_ = Status::success();
  if (!writer_) {
    // ZeRO-1: the other data-parallel ranks send their pieces of the master (when sharded) and
    // of the states to the writer, in the writer's order.
    if (ZeroShards* zero = trainer_->zero(); zero != nullptr && trainer_->params().master_sharded()) {
      LLMRT_RETURN_IF_ERROR(zero->gather_master(nullptr));
    }
    for (const Buffer& state : trainer_->optimizer().states()) {
      if (ZeroShards* zero = trainer_->zero()) LLMRT_RETURN_IF_ERROR(zero->gather_state(state, nullptr));
    }
    return Status::success();
  }
  snapshot_ = take_snapshot(step);
  if (!write_status_.ok()) {
    written_ = true;
    return Status::success();  // reported by poll, agreed with the other ranks
  }
  thread_ = std::thread([this] { write_file(*snapshot_); });
  return Status::success();
}

Result<bool> CheckpointWriter::poll(bool wait) {
  if (!pending()) return true;
  if (wait && thread_.joinable()) thread_.join();
  const double not_done = written_ ? 0.0 : 1.0;
  if ((world_->launched() ? world_->max(not_done) : not_done) > 0) return false;
  if (thread_.joinable()) thread_.join();
  const std::int64_t step = pending_step_;
  pending_step_ = -1;
  const std::string record = writer_ && write_status_.ok() ? snapshot_->record.dump() : std::string();
  LLMRT_RETURN_IF_ERROR(finish(step, record));
  return true;
}

// Every rank: agree that every file is in, then rank 0 makes the checkpoint complete.
Status CheckpointWriter::finish(std::int64_t step, const std::string& record) {
  const std::string tmp = fmt::format("{}/{}.tmp", run_.dir, step_dir_name(step));
  auto not_kept = [&](const Error& error) {
    std::error_code ignored;
    if (world_->rank() == 0) fs::remove_all(tmp, ignored);
    const auto latest = latest_step_dir(run_.dir);
    const std::string previous = latest && !latest->empty() ? fmt::format("the previous one, {}, is intact", *latest)
                                                            : std::string("there is no previous one");
    return Status(runtime_error("checkpoint of step {} not kept: {}; {}", step, error.message(), previous));
  };
  Status written = world_->agree(write_status_);
  if (!written.ok()) return not_kept(written.error());
  const std::vector<std::string> records = world_->launched() ? world_->gather(record) : std::vector<std::string>{record};
  Status published = world_->rank() == 0 ? publish(step, records) : Status::success();
  published = world_->agree(published);
  if (!published.ok()) return not_kept(published.error());
  last_kept_ = fmt::format("{}/{}", run_.dir, step_dir_name(step));
  last_kept_step_ = step;
  return Status::success();
}

// Rank 0: the manifest from every writer's record, then the renames that make it visible.
Status CheckpointWriter::publish(std::int64_t step, const std::vector<std::string>& records) {
  Manifest manifest = run_.base;
  const TrainerState& state = pending_state_;
  manifest.step = step;
  manifest.updates_done = state.updates_done;
  manifest.loss_scale = state.scaler.scale;
  manifest.loss_scale_clean_steps = state.scaler.clean_steps;
  manifest.sequences_consumed = state.sequences_consumed;
  manifest.optimizer_states = trainer_->optimizer().state_names();
  double bytes = 0, slowest_write = 0, slowest_snapshot = 0;
  for (const std::string& text : records) {
    if (text.empty()) continue;
    const auto record = nlohmann::json::parse(text);
    bytes += record.at("bytes").get<double>();
    slowest_write = std::max(slowest_write, record.at("write_s").get<double>());
    slowest_snapshot = std::max(slowest_snapshot, record.at("snapshot_s").get<double>());
    const std::string file = record.at("name").get<std::string>();
    const int tp = record.at("tp").get<int>();
    manifest.files.push_back({file, record.at("pp").get<int>(), tp, record.at("bytes").get<std::uint64_t>(),
                              record.at("crc32").get<std::uint32_t>(), record.at("rng_offset").get<std::uint64_t>()});
    for (const auto& t : record.at("tensors")) {
      CheckpointTensor& tensor = manifest.tensors[t.at("name").get<std::string>()];
      tensor.global_shape = t.at("global_shape").get<std::vector<std::int64_t>>();
      tensor.shard_dim = t.at("shard_dim").get<int>();
      tensor.tied = t.at("tied").get<bool>();
      const std::size_t slot = tensor.shard_dim < 0 ? 0 : static_cast<std::size_t>(tp);
      if (tensor.files.size() <= slot) tensor.files.resize(slot + 1);
      tensor.files[slot] = file;
    }
  }
  const std::string name = step_dir_name(step);
  const std::string tmp = fmt::format("{}/{}.tmp", run_.dir, name), final_dir = fmt::format("{}/{}", run_.dir, name);
  std::error_code error;
  fs::create_directories(tmp, error);  // a run whose only writer failed has none
  LLMRT_RETURN_IF_ERROR(write_synced(tmp + "/config.toml", run_.config_text));
  LLMRT_RETURN_IF_ERROR(write_synced(tmp + "/manifest.json", manifest_json(manifest)));
  LLMRT_RETURN_IF_ERROR(sync_dir(tmp));
  fs::remove_all(final_dir, error);  // an older run's folder of the same step (resume = "never")
  LLMRT_RETURN_IF_ERROR(rename_path(tmp, final_dir));
  LLMRT_RETURN_IF_ERROR(sync_dir(run_.dir));
  LLMRT_RETURN_IF_ERROR(write_synced(run_.dir + "/latest.tmp", name + "\n"));
  LLMRT_RETURN_IF_ERROR(rename_path(run_.dir + "/latest.tmp", run_.dir + "/latest"));
  LLMRT_RETURN_IF_ERROR(sync_dir(run_.dir));
  LLMRT_RETURN_IF_ERROR(prune());
  // The write ran beside training; the snapshot is what the step boundary paid.
  std::cout << fmt::format("checkpoint of step {} kept in {}: {:.1f} MiB in {} files, slowest write {:.3f} s "
                           "({:.0f} MiB/s per writer), snapshot {:.1f} ms\n",
                           step, final_dir, bytes / (1 << 20), manifest.files.size(), slowest_write,
                           bytes / (1 << 20) / manifest.files.size() / std::max(slowest_write, 1e-9),
                           slowest_snapshot * 1e3);
  return Status::success();
}

// Keeps the newest checkpoint.keep complete folders by step, the one just written always.
Status CheckpointWriter::prune() const {
  LLMRT_ASSIGN_OR_RETURN(const std::string latest, latest_step_dir(run_.dir));
  int kept = 1;
  for (const std::string& dir : complete_step_dirs(run_.dir)) {
    if (fs::path(dir) == fs::path(latest)) continue;
    if (kept < run_.keep) {
      ++kept;
      continue;
    }
    std::error_code error;
    fs::remove_all(dir, error);
    if (error) return runtime_error("{}: cannot remove an old checkpoint: {}", dir, error.message());
  }
  return Status::success();
}

}  // namespace llmrt
