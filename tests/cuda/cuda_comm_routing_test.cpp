// The host side of the GPU collectives, which runs without a GPU: host pointers on a group's
// handle reach its MPI collectives through the plugins' host table, and the probes (device
// pointer, CUDA-aware MPI, device count) answer rather than fail on a CPU machine.
#define BOOST_TEST_MODULE cuda_comm_routing
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <mpi.h>

#include <vector>

#include "comm/device_staging.h"
#include "comm/mpi_collectives.h"
#include "comm/nccl_backend.h"
#include "plugin/host_api.h"

using namespace llmrt;

BOOST_AUTO_TEST_CASE(host_pointers_go_to_the_groups_mpi_collectives) {
  MpiCollectives group(MPI_COMM_WORLD);
  llmrt_comm world{&group};
  const llmrt_host_api* api = plugin_host_api();
  std::vector<float> values = {1.5f, -2.0f, 3.25f, 7.0f, 0.5f};  // odd length, non-zero
  const std::vector<float> want = values;                      // a world of one: unchanged
  llmrt_status* status =
      api->all_reduce(&world, values.data(), values.data(), values.size(), LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr);
  BOOST_TEST_REQUIRE(status == nullptr, plugin_status_message(status));
  BOOST_TEST(values == want, boost::test_tools::per_element());

  std::vector<float> gathered(values.size(), 0.0f);
  status = api->all_gather(&world, values.data(), gathered.data(), values.size(), LLMRT_DTYPE_F32, nullptr);
  BOOST_TEST_REQUIRE(status == nullptr, plugin_status_message(status));
  BOOST_TEST(gathered == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(probes_answer_without_a_gpu) {
  std::vector<float> host(7, 1.0f);
  BOOST_TEST(!is_device_pointer(host.data()));
  BOOST_TEST(!is_device_pointer(nullptr));
  BOOST_TEST(cuda_device_count() >= 0);
  BOOST_TEST_MESSAGE("MPI is CUDA-aware: " << mpi_is_cuda_aware() << "; CUDA devices: " << cuda_device_count());
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int rc = boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
  MPI_Finalize();
  return rc;
}
