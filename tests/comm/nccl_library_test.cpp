// NCCL loaded at run time: the library the build found loads with every entry point and a
// version; a missing file and a library that is not NCCL give errors naming the path and why.
// Needs no GPU: dlopen and ncclGetVersion do not touch a device.
#define BOOST_TEST_MODULE comm_nccl_library
#include <boost/test/unit_test.hpp>

#include <string>

#include "comm/nccl_library.h"

using namespace llmrt;

BOOST_AUTO_TEST_CASE(the_build_library_loads_with_every_entry_point) {
  auto api = load_nccl_from(LLMRT_NCCL_BUILD_LIBRARY);
  BOOST_REQUIRE_MESSAGE(api.ok(), (api.ok() ? "" : api.error().message()));
  BOOST_TEST(api->version >= 21900);  // 2.19 or newer: ncclGetLastError and ncclCommAbort exist
  BOOST_TEST(api->path == LLMRT_NCCL_BUILD_LIBRARY);
  for (const void* entry : {reinterpret_cast<const void*>(api->AllReduce), reinterpret_cast<const void*>(api->Send),
                            reinterpret_cast<const void*>(api->Recv), reinterpret_cast<const void*>(api->GroupEnd),
                            reinterpret_cast<const void*>(api->CommInitRank)}) {
    BOOST_TEST(entry != nullptr);
  }
  BOOST_TEST(std::string(api->GetErrorString(ncclSuccess)).size() > 0u);
  // The process-wide loader finds one too (libnccl.so.2 on the path, else the build's).
  auto process = nccl_api();
  BOOST_REQUIRE_MESSAGE(process.ok(), (process.ok() ? "" : process.error().message()));
  BOOST_TEST((*process)->version == api->version);
}

BOOST_AUTO_TEST_CASE(a_missing_library_says_where_it_looked) {
  auto api = load_nccl_from("/nonexistent/libnccl.so.2");
  BOOST_REQUIRE(!api.ok());
  BOOST_TEST(api.error().message().find("cannot load NCCL from /nonexistent/libnccl.so.2") != std::string::npos,
             api.error().message());
}

BOOST_AUTO_TEST_CASE(a_library_that_is_not_nccl_names_the_missing_entry_point) {
  auto api = load_nccl_from("libm.so.6");
  BOOST_REQUIRE(!api.ok());
  BOOST_TEST(api.error().message().find("libm.so.6 has no ncclGetErrorString") != std::string::npos,
             api.error().message());
}
