# llmrt_add_test(NAME SOURCES ... [LIBS ...] [LABELS ...] [MPI_RANKS n] [TIMEOUT s])
# Builds a Boost.Test executable and registers it; with MPI_RANKS it runs under
# mpirun --oversubscribe -np n (as root too: CI runs as root).
function(llmrt_add_test name)
  cmake_parse_arguments(ARG "" "MPI_RANKS;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} llmrt_test_support Boost::unit_test_framework)
  target_compile_definitions(${name} PRIVATE BOOST_TEST_DYN_LINK)
  # Each test runs in a folder of its own: the runs it starts write the config's relative
  # metrics.run_dir (runs/tiny-gpt) there, and run_dir is locked for a run — two tests of one
  # area running at once (ctest -j) must not meet in one run_dir.
  set(workdir ${CMAKE_CURRENT_BINARY_DIR}/work/${name})
  file(MAKE_DIRECTORY ${workdir})
  if(ARG_MPI_RANKS)
    add_test(NAME ${name} COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe --allow-run-as-root
      -np ${ARG_MPI_RANKS} $<TARGET_FILE:${name}> WORKING_DIRECTORY ${workdir})
  else()
    add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${workdir})
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    SKIP_RETURN_CODE 77)
  # The sanitizer build (scripts/test.sh) builds only the bad-input tests: target llmrt_badinput_tests.
  if("badinput" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY LLMRT_BADINPUT_TESTS ${name})
  endif()
endfunction()
