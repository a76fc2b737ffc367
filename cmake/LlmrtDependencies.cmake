# Every dependency is a Debian 12 package found with find_package (see docs/ARCHITECTURE notes).
find_package(tomlplusplus 3 REQUIRED)   # libtomlplusplus-dev
find_package(fmt REQUIRED)              # libfmt-dev
find_package(MPI REQUIRED COMPONENTS C) # libopenmpi-dev
find_package(CLI11 REQUIRED)            # libcli11-dev
find_package(nlohmann_json 3 REQUIRED)  # nlohmann-json3-dev
find_package(Threads REQUIRED)
# libcpp-httplib-dev ships a compiled library and a pkg-config file, no CMake package; its
# Cflags (OpenSSL, zlib, brotli on) must match how the library was built.
find_package(PkgConfig REQUIRED)
pkg_check_modules(cpp_httplib REQUIRED IMPORTED_TARGET cpp-httplib)  # the metrics endpoint
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)             # libopenblas-dev (cblas_sgemm)
find_path(LLMRT_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES x86_64-linux-gnu/openblas-pthread openblas-pthread openblas REQUIRED)
if(LLMRT_BUILD_TESTS)
  find_package(Boost 1.74 REQUIRED COMPONENTS unit_test_framework)  # libboost-test-dev
endif()
# llmrt uses MPI's C API only; keep Open MPI's deprecated C++ bindings out of every target.
add_compile_definitions(OMPI_SKIP_MPICXX=1 MPICH_SKIP_MPICXX=1)
