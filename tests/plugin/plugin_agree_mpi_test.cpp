// Two MPI ranks compare their plugins: identical sets pass; when rank 1 has an extra plugin or
// another build of one, both ranks fail with the same message naming rank 1.
#define BOOST_TEST_MODULE plugin_agree_mpi
#include <boost/test/unit_test.hpp>

#include <mpi.h>

#include <string>

#include "plugin/plugin_agreement.h"
#include "plugin/plugin_search.h"

using namespace llmrt;

namespace {

struct MpiSession {
  MpiSession() { MPI_Init(nullptr, nullptr); }
  ~MpiSession() { MPI_Finalize(); }
};
BOOST_TEST_GLOBAL_FIXTURE(MpiSession);

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

Registry load(const std::string& environment_path) {
  PluginSearchOptions options;
  options.use_builtin = false;
  options.config_paths = {std::string(PLUGIN_FIXTURE_DIR) + "/cpp_a"};
  options.environment_path = environment_path;
  auto registry = load_plugins(options);
  BOOST_REQUIRE_MESSAGE(registry.ok(), (registry.ok() ? "" : registry.error().message()));
  return std::move(*registry);
}

// Every rank's message, so the test can check that all ranks fail alike.
std::string rank_zero_message(const std::string& mine) {
  int length = static_cast<int>(mine.size());
  MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string text = mine;
  text.resize(length);
  MPI_Bcast(text.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD);
  return text;
}

}  // namespace

BOOST_AUTO_TEST_CASE(same_plugins_agree) {
  Registry registry = load(std::string(PLUGIN_FIXTURE_DIR) + "/c_good");
  Status status = check_plugins_agree(registry, MPI_COMM_WORLD);
  BOOST_TEST(status.ok(), (status.ok() ? "" : status.error().message()));
}

BOOST_AUTO_TEST_CASE(extra_plugin_on_one_rank) {
  const std::string extra = world_rank() == 1 ? ":" + std::string(PLUGIN_FIXTURE_DIR) + "/c_newer_minor_ok" : "";
  Registry registry = load(std::string(PLUGIN_FIXTURE_DIR) + "/c_good" + extra);
  Status status = check_plugins_agree(registry, MPI_COMM_WORLD);
  BOOST_REQUIRE(!status.ok());
  const std::string& message = status.error().message();
  BOOST_TEST(message.find("rank(s) 1 differ from rank 0") != std::string::npos, message);
  BOOST_TEST(message.find("rank 1 has 'c.single_newer_minor_ok'") != std::string::npos, message);
  BOOST_TEST(static_cast<int>(status.error().kind()) == static_cast<int>(ErrorKind::kInput));
  BOOST_TEST(rank_zero_message(message) == message);
}

BOOST_AUTO_TEST_CASE(other_build_of_a_plugin_on_one_rank) {
  const std::string dir = world_rank() == 1 ? "/c_other_build" : "/c_good";
  Registry registry = load(std::string(PLUGIN_FIXTURE_DIR) + dir);
  Status status = check_plugins_agree(registry, MPI_COMM_WORLD);
  BOOST_REQUIRE(!status.ok());
  const std::string& message = status.error().message();
  BOOST_TEST(message.find("'c.single_good' is pipeline_schedule 0.1.0 (build c-build-1) on rank 0 but "
                          "pipeline_schedule 0.1.0 (build c-build-2) on rank 1") != std::string::npos, message);
  BOOST_TEST(rank_zero_message(message) == message);
}
