// Pipeline activation transfers between two GPU ranks: the executor's path (P2pTransport over
// the pipeline group's DeviceMemoryCollectives: NCCL links, comm/pipeline_links.h, or the staged
// MPI path when NCCL is not there) against raw ncclSend/ncclRecv of the same bytes on one
// communicator and one stream, nccl-tests style. The target: ours ≥ 90 % of raw.
//   mpirun -np 2 bench_p2p_cuda [--bytes 25165824] [--repeats 40]
// Default bytes: a GPT-2 124M stage activation, B·T·C·2 = 16·1024·768·2 (bf16). Rank 0 prints
// one JSON line. Exit 77 (skipped, said on stderr) without two ranks, a CUDA device per rank,
// or when both ranks share one GPU (NCCL refuses that; --share-gpus on a one-GPU machine).
#include <cuda_runtime.h>
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/gpu_collectives.h"
#include "comm/nccl_backend.h"
#include "comm/progress.h"
#include "device/cuda_device.h"
#include "exec/p2p_transport.h"

namespace {

constexpr int kSkip = 77;

// A benchmark has no caller to hand a failure to: say what failed and stop every rank.
void check(const llmrt::Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "bench_p2p_cuda: %s: %s\n", what, status.error().message().c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
}

template <typename T>
T value(llmrt::Result<T> result, const char* what) {
  check(result.ok() ? llmrt::Status::success() : llmrt::Status(result.error()), what);
  return std::move(*result);
}

int skip(int rank, const std::string& why) {
  if (rank == 0) std::fprintf(stderr, "bench_p2p_cuda: skipped: %s\n", why.c_str());
  MPI_Finalize();
  return kSkip;
}

double median(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Seconds per one-way transfer, ping-pong halved: raw NCCL on one communicator and one stream,
// the host waiting for the stream after each half (as a stage would before using the bytes).
double raw_nccl(llmrt::NcclGroup& nccl, void* send, void* receive, std::size_t bytes, int rank, int repeats,
                cudaStream_t stream) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    for (int half = 0; half < 2; ++half) {
      const bool sending = (rank == 0) == (half == 0);
      check(sending ? nccl.send(send, bytes, LLMRT_DTYPE_U8, 1 - rank, stream)
                    : nccl.recv(receive, bytes, LLMRT_DTYPE_U8, 1 - rank, stream),
            "raw NCCL transfer");
      check(llmrt::check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize"), "raw NCCL wait");
    }
    times.push_back((MPI_Wtime() - start) / 2);
  }
  return median(times);
}

// The same ping-pong through the executor's transport, as PipelineRunner drives it: the sender
// swaps the stage output for a spare buffer and hands it over; the receiver posts into its
// inbox buffer and its compute stream waits for the bytes (the host then waits for that stream).
double pipeline_path(llmrt::P2pTransport& transport, llmrt::ComputeDevice& device, llmrt::Buffer& output,
                     llmrt::Buffer& inbox, int rank, int repeats, cudaStream_t compute) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    for (int half = 0; half < 2; ++half) {
      const bool sending = (rank == 0) == (half == 0);
      const int tag = 7 + half;
      if (sending) {
        llmrt::Buffer spare = transport.spare_buffer();
        check(spare.resize(device, LLMRT_DTYPE_U8, output.count()), "spare buffer");
        std::swap(output, spare);
        check(transport.send(std::move(spare), 1 - rank, tag), "pipeline send");
        check(transport.reap_sends(true), "pipeline send wait");
      } else {
        check(transport.post_receive(0, inbox, 1 - rank, tag), "pipeline receive");
        check(transport.wait_receive(0), "pipeline receive wait");
        check(llmrt::check_cuda(cudaStreamSynchronize(compute), "cudaStreamSynchronize"), "compute wait");
        check(transport.reap_sends(true), "receive reap");
      }
    }
    times.push_back((MPI_Wtime() - start) / 2);
    // Buffers dropped in the round wait for a safe point, as the trainer's step end: both ends'
    // transfers are done here, so the device-wide wait holds back nothing the peer needs.
    check(device.release_deferred_frees(), "releasing freed GPU memory");
  }
  return median(times);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::size_t bytes = std::size_t{16} * 1024 * 768 * 2;
  int repeats = 40;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--bytes") bytes = std::stoull(argv[i + 1]);
    if (flag == "--repeats") repeats = std::max(5, std::stoi(argv[i + 1]));
  }
  if (size != 2) return skip(rank, "run with mpirun -np 2 (one GPU per rank)");
  const int devices = llmrt::cuda_device_count();
  const int everywhere = [&] {
    int local = devices > 0 ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &local, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return local;
  }();
  if (everywhere == 0) return skip(rank, "a rank sees no CUDA device");
  const int ordinal = rank % devices;  // one node with two GPUs: one each; two nodes: their first
  if (!value(llmrt::members_own_devices(MPI_COMM_WORLD, ordinal), "comparing GPU UUIDs")) {
    return skip(rank, "both ranks share one GPU (NCCL needs one GPU per rank)");
  }
  llmrt::ComputeDevice* device = llmrt::cuda_device(ordinal);
  if (device == nullptr) return skip(rank, "cuda_device failed");
  // Ours: the pipeline group's device path, exactly as ProcessGroups builds it.
  auto gpu = value(llmrt::GpuCollectives::create(ordinal), "GPU collectives");
  llmrt::DeviceComm* pipeline = value(gpu->attach(MPI_COMM_WORLD), "attaching the pipeline group");
  check(pipeline->link_pipeline(ordinal), "the pipeline's NCCL links");
  llmrt::DeviceMemoryCollectives collectives(MPI_COMM_WORLD, *pipeline);
  auto compute = value(device->create_stream(), "compute stream");
  llmrt::Progress progress;
  llmrt::P2pTransport transport(collectives, progress);
  transport.set_stream(compute->plugin_handle());
  llmrt::Buffer output = value(llmrt::Buffer::allocate(*device, LLMRT_DTYPE_U8, bytes), "output buffer");
  llmrt::Buffer inbox = value(llmrt::Buffer::allocate(*device, LLMRT_DTYPE_U8, bytes), "inbox buffer");
  check(device->fill_zero(output.data(), bytes, nullptr), "fill");
  // Raw: one more communicator over the same two ranks, one stream.
  auto raw = value(llmrt::NcclGroup::create(MPI_COMM_WORLD, ordinal), "raw NCCL communicator");
  cudaStream_t raw_stream = nullptr;
  check(llmrt::check_cuda(cudaStreamCreateWithFlags(&raw_stream, cudaStreamNonBlocking), "cudaStreamCreate"), "stream");
  const cudaStream_t ours = llmrt::cuda_stream_of(compute->plugin_handle());
  raw_nccl(raw, output.data(), inbox.data(), bytes, rank, 3, raw_stream);  // warm up: connections, buffers
  pipeline_path(transport, *device, output, inbox, rank, 3, ours);
  std::vector<double> raw_rounds, our_rounds;  // alternated, so a busy moment hits both alike
  for (int round = 0; round < 5; ++round) {
    raw_rounds.push_back(raw_nccl(raw, output.data(), inbox.data(), bytes, rank, repeats / 5 + 1, raw_stream));
    our_rounds.push_back(pipeline_path(transport, *device, output, inbox, rank, repeats / 5 + 1, ours));
  }
  const double raw_s = median(raw_rounds), our_s = median(our_rounds);
  if (rank == 0) {
    const double b = static_cast<double>(bytes);
    const nlohmann::json line = {{"bytes", bytes},
                                 {"raw_nccl_gb_s", b / raw_s / 1e9},
                                 {"pipeline_gb_s", b / our_s / 1e9},
                                 {"ratio", raw_s / our_s},
                                 {"target_ratio", 0.9},
                                 {"pipeline_path", pipeline->describe_p2p()}};
    std::puts(line.dump().c_str());
  }
  cudaStreamDestroy(raw_stream);
  MPI_Finalize();
  return 0;
}
