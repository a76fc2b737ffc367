# Build options: every knob of the build is here, with its default.
option(LLMRT_BUILD_TESTS "Build the test executables" ON)
option(LLMRT_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
set(LLMRT_CUDA "AUTO" CACHE STRING "Build the CUDA kernels: AUTO (when nvcc is found), ON (required) or OFF")
set_property(CACHE LLMRT_CUDA PROPERTY STRINGS AUTO ON OFF)
# For development only: folders to leave out while they are being written (e.g. "plugin;kernels").
set(LLMRT_SKIP_PARTS "" CACHE STRING "Source folders to leave out of the build")

find_program(LLMRT_CCACHE ccache)
if(LLMRT_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER "${LLMRT_CCACHE}")
  set(CMAKE_CXX_COMPILER_LAUNCHER "${LLMRT_CCACHE}")
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${LLMRT_CCACHE}")
endif()

# Warnings and sanitizers for every llmrt target (not for third-party code).
add_library(llmrt_build_flags INTERFACE)
target_compile_options(llmrt_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
if(LLMRT_SANITIZE)
  target_compile_options(llmrt_build_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX,C>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined>)
  target_link_options(llmrt_build_flags INTERFACE -fsanitize=address,undefined)
endif()

# libFuzzer targets (tests/fuzz, scripts/fuzz.sh): clang only; every llmrt library instrumented
# for coverage, AddressSanitizer and UBSan. Build target llmrt_fuzz: the targets and their libraries.
option(LLMRT_FUZZ "Build the libFuzzer targets of tests/fuzz instead of the tests (clang)" OFF)
if(LLMRT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LLMRT_FUZZ needs clang (CXX=clang++), found ${CMAKE_CXX_COMPILER_ID}")
  endif()
  target_compile_options(llmrt_build_flags INTERFACE
    $<$<COMPILE_LANGUAGE:CXX,C>:-g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
      -fno-sanitize-recover=undefined>)
  target_link_options(llmrt_build_flags INTERFACE -fsanitize=address,undefined)
endif()

# Where built plugins land, so the runtime finds them in the build tree as it does when installed.
set(LLMRT_BUILD_PLUGIN_DIR "${CMAKE_BINARY_DIR}/lib/llmrt/plugins")
include(GNUInstallDirs)
set(LLMRT_INSTALL_PLUGIN_DIR "${CMAKE_INSTALL_LIBDIR}/llmrt/plugins")
