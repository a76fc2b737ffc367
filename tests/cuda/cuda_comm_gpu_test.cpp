// Smoke test of the GPU collectives (runtime/comm/nccl_backend.h, device_staging.h): NCCL and
// the pinned staging path on device buffers, and the host table's slots routing device vs host memory through a group's collectives.
// An MPI program: one rank checks identities; under `mpirun -np 2` (one GPU is enough) it checks sums.
#define BOOST_TEST_MODULE cuda_comm_gpu
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <cuda_runtime.h>
#include <mpi.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "comm/device_staging.h"
#include "comm/gpu_collectives.h"
#include "comm/nccl_backend.h"
#include "comm/process_groups.h"
#include "device/cuda_device.h"
#include "plugin/host_api.h"

using namespace llmrt;

namespace {

constexpr std::size_t kCount = 1000;  // the size
constexpr std::size_t kOdd = 989;     // no vector width or rank count divides it

#define REQUIRE_OK(expr)                                                          \
  do {                                                                            \
    const auto& status_ = (expr);                                                 \
    BOOST_TEST_REQUIRE(status_.ok(), #expr << ": " << status_.error().message()); \
  } while (0)

int world_rank() { int r = 0; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
int world_size() { int s = 1; MPI_Comm_size(MPI_COMM_WORLD, &s); return s; }

// Non-zero values, exact in f32 and in sums of a few ranks: a wrong or skipped reduction shows.
std::vector<float> values(std::size_t n, int rank) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; i++) v[i] = float(rank + 1) * (0.5f + 0.25f * float(i % 97));
  return v;
}

// The sum of values(n, r) over ranks 0..size-1.
std::vector<float> summed(std::size_t n, int size) {
  std::vector<float> s(n, 0.0f);
  for (int r = 0; r < size; r++) {
    const std::vector<float> v = values(n, r);
    for (std::size_t i = 0; i < n; i++) s[i] += v[i];
  }
  return s;
}

struct CudaFree {
  void operator()(void* p) const { cudaFree(p); }
};

// A device copy of `host`, owned.
std::unique_ptr<void, CudaFree> to_device(const std::vector<float>& host) {
  void* p = nullptr;
  BOOST_TEST_REQUIRE(cudaMalloc(&p, host.size() * sizeof(float)) == cudaSuccess);
  BOOST_TEST_REQUIRE(cudaMemcpy(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  return std::unique_ptr<void, CudaFree>(p);
}

std::vector<float> to_host(const void* device, std::size_t n) {
  std::vector<float> out(n);
  BOOST_TEST_REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  BOOST_TEST_REQUIRE(cudaMemcpy(out.data(), device, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  return out;
}

// One process-wide set of GPU collectives (NCCL communicators are costly to make), released by
// main before MPI_Finalize rather than by static destructors after the CUDA runtime is gone.
std::unique_ptr<GpuCollectives> g_collectives;

GpuCollectives& gpu() {
  if (!g_collectives) {
    int devices = 0;
    cudaGetDeviceCount(&devices);
    auto made = GpuCollectives::create(world_rank() % devices);  // ranks share GPUs when there are fewer
    BOOST_TEST_REQUIRE(made.ok(), made.error().message());
    g_collectives = std::move(made).value();
  }
  return *g_collectives;
}

}  // namespace

BOOST_AUTO_TEST_CASE(nccl_all_reduce_of_one_rank_is_identity) {
  auto group = NcclGroup::create(MPI_COMM_SELF, gpu().device());
  REQUIRE_OK(group);
  BOOST_TEST(group->size() == 1);
  const std::vector<float> input = values(kCount, world_rank());
  auto buffer = to_device(input);
  for (std::int32_t op : {LLMRT_REDUCE_SUM, LLMRT_REDUCE_MAX, LLMRT_REDUCE_MIN}) {
    REQUIRE_OK(group->all_reduce(buffer.get(), buffer.get(), kCount, LLMRT_DTYPE_F32, op, nullptr));
  }
  BOOST_TEST(to_host(buffer.get(), kCount) == input, boost::test_tools::per_element());
  auto out = to_device(std::vector<float>(kCount, 0.0f));  // out of place
  REQUIRE_OK(group->all_reduce(buffer.get(), out.get(), kCount, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr));
  BOOST_TEST(to_host(out.get(), kCount) == input, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(staging_of_one_rank_matches_nccl) {
  auto group = NcclGroup::create(MPI_COMM_SELF, gpu().device());
  REQUIRE_OK(group);
  auto staged = DeviceComm::create(MPI_COMM_SELF, gpu().device(), gpu().staging(), DeviceBackend::kStaging);
  REQUIRE_OK(staged);
  BOOST_TEST(bool((*staged)->path() == DeviceComm::Path::kStaging));
  const std::vector<float> input = values(kCount, world_rank());
  auto by_nccl = to_device(input);
  auto by_mpi = to_device(input);
  REQUIRE_OK(group->all_reduce(by_nccl.get(), by_nccl.get(), kCount, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr));
  REQUIRE_OK((*staged)->all_reduce(by_mpi.get(), by_mpi.get(), kCount, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr));
  BOOST_TEST(to_host(by_mpi.get(), kCount) == to_host(by_nccl.get(), kCount), boost::test_tools::per_element());
  BOOST_TEST(to_host(by_mpi.get(), kCount) == input, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(staging_sums_across_ranks) {
  auto staged = DeviceComm::create(MPI_COMM_WORLD, gpu().device(), gpu().staging(), DeviceBackend::kStaging);
  REQUIRE_OK(staged);
  const int size = world_size(), rank = world_rank();
  auto buffer = to_device(values(kOdd, rank));
  REQUIRE_OK((*staged)->all_reduce(buffer.get(), buffer.get(), kOdd, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr));
  BOOST_TEST(to_host(buffer.get(), kOdd) == summed(kOdd, size), boost::test_tools::per_element());

  // reduce_scatter: every rank contributes size blocks; block r of the sum lands on rank r.
  auto blocks = to_device(values(kOdd * size, rank));
  auto mine = to_device(std::vector<float>(kOdd, 0.0f));
  REQUIRE_OK((*staged)->reduce_scatter(blocks.get(), mine.get(), kOdd, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr));
  const std::vector<float> total = summed(kOdd * size, size);
  BOOST_TEST(to_host(mine.get(), kOdd) == std::vector<float>(total.begin() + rank * kOdd, total.begin() + (rank + 1) * kOdd),
             boost::test_tools::per_element());

  // all_gather, then broadcast of rank 0's buffer.
  auto own = to_device(values(kOdd, rank));
  auto all = to_device(std::vector<float>(kOdd * size, 0.0f));
  REQUIRE_OK((*staged)->all_gather(own.get(), all.get(), kOdd, LLMRT_DTYPE_F32, nullptr));
  const std::vector<float> gathered = to_host(all.get(), kOdd * size);
  for (int r = 0; r < size; r++) {
    BOOST_TEST(std::vector<float>(gathered.begin() + r * kOdd, gathered.begin() + (r + 1) * kOdd) == values(kOdd, r),
               boost::test_tools::per_element());
  }
  REQUIRE_OK((*staged)->broadcast(own.get(), kOdd, LLMRT_DTYPE_F32, 0, nullptr));
  BOOST_TEST(to_host(own.get(), kOdd) == values(kOdd, 0), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(staged_exchange_passes_activations_round_a_ring) {
  const int size = world_size(), rank = world_rank();
  if (size < 2) {
    BOOST_TEST_MESSAGE("one rank: no peer to exchange with (run under mpirun -np 2)");
    return;
  }
  auto staged = DeviceComm::create(MPI_COMM_WORLD, gpu().device(), gpu().staging(), DeviceBackend::kStaging);
  REQUIRE_OK(staged);
  auto outgoing = to_device(values(kOdd, rank));
  auto incoming = to_device(std::vector<float>(kOdd, 0.0f));
  const int next = (rank + 1) % size, previous = (rank + size - 1) % size;
  const DeviceP2p ops[] = {{DeviceP2p::Kind::kSend, next, outgoing.get(), kOdd, LLMRT_DTYPE_F32},
                           {DeviceP2p::Kind::kRecv, previous, incoming.get(), kOdd, LLMRT_DTYPE_F32}};
  REQUIRE_OK((*staged)->exchange(ops, nullptr));
  BOOST_TEST(to_host(incoming.get(), kOdd) == values(kOdd, previous), boost::test_tools::per_element());
}

// The executor's pattern that deadlocked the blocking exchange: every rank posts both of its
// receives before it sends anything (1F1B prefetches receives), two messages per peer with
// tags in opposite orders; the non-blocking requests complete whatever the order.
BOOST_AUTO_TEST_CASE(posted_receives_ahead_of_sends_complete_by_tag) {
  const int size = world_size(), rank = world_rank();
  if (size < 2) {
    BOOST_TEST_MESSAGE("one rank: no peer to exchange with (run under mpirun -np 2)");
    return;
  }
  auto attached = gpu().attach(MPI_COMM_WORLD);
  REQUIRE_OK(attached);
  DeviceComm& comm = **attached;
  const int next = (rank + 1) % size, previous = (rank + size - 1) % size;
  auto first_in = to_device(std::vector<float>(kOdd, 0.0f)), second_in = to_device(std::vector<float>(kOdd, 0.0f));
  auto first_out = to_device(values(kOdd, 10 * rank + 1)), second_out = to_device(values(kOdd, 10 * rank + 2));
  auto recv_first = comm.start_recv(first_in.get(), kOdd, LLMRT_DTYPE_F32, previous, /*tag=*/1, nullptr);
  auto recv_second = comm.start_recv(second_in.get(), kOdd, LLMRT_DTYPE_F32, previous, /*tag=*/2, nullptr);
  REQUIRE_OK(recv_first);
  REQUIRE_OK(recv_second);
  auto send_second = comm.start_send(second_out.get(), kOdd, LLMRT_DTYPE_F32, next, /*tag=*/2, nullptr);
  auto send_first = comm.start_send(first_out.get(), kOdd, LLMRT_DTYPE_F32, next, /*tag=*/1, nullptr);
  REQUIRE_OK(send_second);
  REQUIRE_OK(send_first);
  for (auto* request : {&*recv_first, &*recv_second, &*send_first, &*send_second}) REQUIRE_OK((*request)->wait());
  BOOST_TEST(to_host(first_in.get(), kOdd) == values(kOdd, 10 * previous + 1), boost::test_tools::per_element());
  BOOST_TEST(to_host(second_in.get(), kOdd) == values(kOdd, 10 * previous + 2), boost::test_tools::per_element());
}

// The executor's pipeline path on a non-default stream: NCCL links (one communicator and stream
// per directed link, comm/pipeline_links.h) when every rank owns its GPU, else the staged MPI
// path, as the plan paragraph says. Both receives are posted before either send, in the link's
// message order (what link_order_mismatch proves of a schedule); the consumer's stream waits for
// a stream-ordered receive without the host. Then tag matching asked for: the staged path again.
BOOST_AUTO_TEST_CASE(pipeline_p2p_on_a_compute_stream_takes_the_links_or_says_why_not) {
  const int size = world_size(), rank = world_rank();
  if (size < 2) {
    BOOST_TEST_MESSAGE("one rank: no peer to exchange with (run under mpirun -np 2)");
    return;
  }
  auto own = members_own_devices(MPI_COMM_WORLD, gpu().device());
  REQUIRE_OK(own);
  auto attached = gpu().attach(MPI_COMM_WORLD);
  REQUIRE_OK(attached);
  DeviceComm& comm = **attached;
  REQUIRE_OK(comm.link_pipeline(gpu().device()));
  const std::string path = comm.describe_p2p();
  BOOST_TEST_MESSAGE("pipeline p2p: " << path);
  BOOST_TEST(path.rfind(*own ? "NCCL (" : "staged MPI (", 0) == 0, path);
  DeviceMemoryCollectives pipeline(MPI_COMM_WORLD, comm);
  cudaStream_t compute = nullptr;
  BOOST_TEST_REQUIRE(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking) == cudaSuccess);
  llmrt_stream* stream = llmrt_stream_of(compute);
  const int next = (rank + 1) % size, previous = (rank + size - 1) % size;
  for (int round = 0; round < 2; ++round) {
    if (round == 1) comm.match_p2p_by_tag("asked by the test");
    auto first_in = to_device(std::vector<float>(kOdd, 0.0f)), second_in = to_device(std::vector<float>(kOdd, 0.0f));
    auto first_out = to_device(values(kOdd, 10 * rank + 1)), second_out = to_device(values(kOdd, 10 * rank + 2));
    auto recv_first = pipeline.start_recv(first_in.get(), kOdd, LLMRT_DTYPE_F32, previous, 1, stream);
    auto recv_second = pipeline.start_recv(second_in.get(), kOdd, LLMRT_DTYPE_F32, previous, 2, stream);
    REQUIRE_OK(recv_first);
    REQUIRE_OK(recv_second);
    auto send_first = pipeline.start_send(first_out.get(), kOdd, LLMRT_DTYPE_F32, next, 1, stream);
    auto send_second = pipeline.start_send(second_out.get(), kOdd, LLMRT_DTYPE_F32, next, 2, stream);
    REQUIRE_OK(send_first);
    REQUIRE_OK(send_second);
    for (auto* request : {&*recv_first, &*recv_second}) {
      if (*request != nullptr && (*request)->stream_ordered()) {
        REQUIRE_OK((*request)->order_before(stream));
      } else if (*request != nullptr) {
        REQUIRE_OK((*request)->wait());
      }
    }
    BOOST_TEST_REQUIRE(cudaStreamSynchronize(compute) == cudaSuccess);
    for (auto* request : {&*send_first, &*send_second, &*recv_first, &*recv_second}) {
      if (*request != nullptr) REQUIRE_OK((*request)->wait());
    }
    BOOST_TEST(to_host(first_in.get(), kOdd) == values(kOdd, 10 * previous + 1), boost::test_tools::per_element());
    BOOST_TEST(to_host(second_in.get(), kOdd) == values(kOdd, 10 * previous + 2), boost::test_tools::per_element());
  }
  BOOST_TEST(comm.describe_p2p().rfind("staged MPI (", 0) == 0, comm.describe_p2p());
  BOOST_TEST_REQUIRE(cudaStreamDestroy(compute) == cudaSuccess);
}

BOOST_AUTO_TEST_CASE(auto_backend_takes_nccl_only_when_every_rank_owns_its_gpu) {
  auto own = members_own_devices(MPI_COMM_WORLD, gpu().device());
  REQUIRE_OK(own);
  auto chosen = DeviceComm::create(MPI_COMM_WORLD, gpu().device(), gpu().staging(), DeviceBackend::kAuto);
  REQUIRE_OK(chosen);
  BOOST_TEST_MESSAGE("world of " << world_size() << ": " << (*chosen)->path_name());
  BOOST_TEST(((*chosen)->path() == DeviceComm::Path::kNccl) == *own);
  auto buffer = to_device(values(kCount, world_rank()));
  REQUIRE_OK((*chosen)->all_reduce(buffer.get(), buffer.get(), kCount, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr));
  BOOST_TEST(to_host(buffer.get(), kCount) == summed(kCount, world_size()), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(plugin_slots_route_device_and_host_pointers) {
  // The handles ProcessGroups gives a GPU rank's plugins: the group's collectives route by memory.
  auto attached = gpu().attach(MPI_COMM_WORLD);
  REQUIRE_OK(attached);
  DeviceMemoryCollectives world_group(MPI_COMM_WORLD, **attached);
  SelfCollectives alone_group(*cuda_device(gpu().device()));
  llmrt_comm world{&world_group};
  llmrt_comm alone{&alone_group};  // a group of one
  const llmrt_host_api* api = plugin_host_api();

  auto device = to_device(values(kCount, world_rank()));
  llmrt_status* status = api->all_reduce(&world, device.get(), device.get(), kCount, LLMRT_DTYPE_F32,
                                         LLMRT_REDUCE_SUM, nullptr);
  BOOST_TEST_REQUIRE(status == nullptr, plugin_status_message(status));
  BOOST_TEST(to_host(device.get(), kCount) == summed(kCount, world_size()), boost::test_tools::per_element());

  std::vector<float> host = values(kCount, world_rank());  // host memory: still MPI
  status = api->all_reduce(&world, host.data(), host.data(), kCount, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr);
  BOOST_TEST_REQUIRE(status == nullptr, plugin_status_message(status));
  BOOST_TEST(host == summed(kCount, world_size()), boost::test_tools::per_element());

  auto copy = to_device(std::vector<float>(kCount, 0.0f));  // a group of one copies on the device
  const std::vector<float> input = values(kCount, world_rank());
  auto source = to_device(input);
  status = api->all_reduce(&alone, source.get(), copy.get(), kCount, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr);
  BOOST_TEST_REQUIRE(status == nullptr, plugin_status_message(status));
  BOOST_TEST(to_host(copy.get(), kCount) == input, boost::test_tools::per_element());
}

// Skips (exit 77, CTest's SKIP) on a machine without a GPU, on every rank alike.
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 77;
  if (cuda_device_count() == 0) {
    std::printf("no CUDA device: skipping %s\n", argc > 0 ? argv[0] : "cuda_comm_gpu");
  } else {
    rc = boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
    g_collectives.reset();
  }
  MPI_Finalize();
  return rc;
}
