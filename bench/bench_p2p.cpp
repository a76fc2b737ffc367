// Activation transfer throughput between two ranks: the executor's path (P2pTransport, with the
// copy the runner makes of a stage's output) against raw MPI_Send/MPI_Recv of the same bytes.
//   mpirun -np 2 bench_p2p [--mib 0.5,2,8,32] [--repeats 50]
// Prints one JSON line per size on rank 0: GB/s of both and their ratio.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/mpi_collectives.h"
#include "comm/progress.h"
#include "exec/p2p_transport.h"

namespace {

// A benchmark has no caller to hand a failure to: say what failed and stop every rank.
void check(const llmrt::Status& status) {
  if (status.ok()) return;
  std::fprintf(stderr, "bench_p2p: %s\n", status.error().message().c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
}

// Median seconds per one-way transfer, ping-pong halved. Like a pipeline stage, a rank sends
// one buffer (what it computed) and receives into another (what the next pass reads).
double raw_mpi(std::vector<float>& send_buffer, std::vector<float>& receive_buffer, int rank, int repeats) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    const int count = static_cast<int>(send_buffer.size());
    if (rank == 0) {
      MPI_Send(send_buffer.data(), count, MPI_FLOAT, 1, 7, MPI_COMM_WORLD);
      MPI_Recv(receive_buffer.data(), count, MPI_FLOAT, 1, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(receive_buffer.data(), count, MPI_FLOAT, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(send_buffer.data(), count, MPI_FLOAT, 0, 8, MPI_COMM_WORLD);
    }
    times.push_back((MPI_Wtime() - start) / 2);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The same ping-pong through the executor's transport, as PipelineRunner drives it: the sender
// swaps the stage's output buffer for a spare one and hands it over, the receiver posts into
// its inbox buffer.
double executor_path(llmrt::Buffer& output, llmrt::Buffer& inbox, int rank, int repeats) {
  llmrt::Progress progress;
  llmrt::MpiCollectives world(MPI_COMM_WORLD);
  llmrt::P2pTransport transport(world, progress);
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    const int peer = 1 - rank;
    auto exchange = [&](bool sending, int tag) {
      if (sending) {
        llmrt::Buffer spare = transport.spare_buffer();
        // the next forward writes the stage output into it
        check(spare.resize(llmrt::cpu_device(), LLMRT_DTYPE_F32, output.count()));
        std::swap(output, spare);
        check(transport.send(std::move(spare), peer, tag));
        check(transport.reap_sends(true));
      } else {
        check(transport.post_receive(0, inbox, peer, tag));
        check(transport.wait_receive(0));
      }
    };
    exchange(rank == 0, 7);
    exchange(rank == 1, 8);
    times.push_back((MPI_Wtime() - start) / 2);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::vector<double> sizes_mib = {0.5, 2, 8, 32};
  int repeats = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--repeats") repeats = std::stoi(argv[i + 1]);
    if (flag == "--mib") {
      sizes_mib.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) sizes_mib.push_back(std::stod(item));
    }
  }
  if (size != 2) {
    if (rank == 0) std::fprintf(stderr, "bench_p2p: run with mpirun -np 2\n");
    MPI_Finalize();
    return 2;
  }
  for (double mib : sizes_mib) {
    const std::size_t floats = static_cast<std::size_t>(mib * 1024 * 1024 / sizeof(float));
    std::vector<float> buffer(floats, 1.5f), received(floats);
    llmrt::Buffer output = llmrt::Buffer::allocate(llmrt::cpu_device(), LLMRT_DTYPE_F32, floats).value();
    llmrt::Buffer inbox = llmrt::Buffer::allocate(llmrt::cpu_device(), LLMRT_DTYPE_F32, floats).value();
    std::fill(output.span<float>().begin(), output.span<float>().end(), 1.5f);
    raw_mpi(buffer, received, rank, 3);  // warm up both paths (registration, eager/rendezvous set-up)
    executor_path(output, inbox, rank, 3);
    // Alternate the two in rounds so that a busy moment of the machine hits both alike.
    std::vector<double> raw_rounds, our_rounds;
    for (int round = 0; round < 5; ++round) {
      raw_rounds.push_back(raw_mpi(buffer, received, rank, repeats / 5 + 1));
      our_rounds.push_back(executor_path(output, inbox, rank, repeats / 5 + 1));
    }
    std::sort(raw_rounds.begin(), raw_rounds.end());
    std::sort(our_rounds.begin(), our_rounds.end());
    const double raw = raw_rounds[2], ours = our_rounds[2];
    if (rank == 0) {
      const double bytes = double(floats) * sizeof(float);
      nlohmann::json line = {{"mib", mib}, {"raw_mpi_gb_s", bytes / raw / 1e9}, {"executor_gb_s", bytes / ours / 1e9},
                             {"ratio", raw / ours}};
      std::puts(line.dump().c_str());
    }
  }
  MPI_Finalize();
  return 0;
}
