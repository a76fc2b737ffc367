#!/usr/bin/env bash
# The README's second command: install what is missing, build, and run every test.
# The bad-input tests run a second time in an AddressSanitizer + UBSan build (build-asan/), the
# fuzz targets briefly (build-fuzz/), then the whole suite runs in the Release build; the last
# line is ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/install-tools.sh
jobs=$(nproc)

# Every option this script depends on is set here, never inherited from an earlier configure
# (quickstart.sh, a hand-run cmake): a build/ configured without tests used to end in
# "No tests were found!!!".
BUILD_DIR=build-asan BUILD_TYPE=Debug BUILD_TARGET=llmrt_badinput_tests \
  scripts/build.sh -DLLMRT_BUILD_TESTS=ON -DLLMRT_SANITIZE=ON -DLLMRT_CUDA=OFF
# Open MPI's own allocations are not ours to report; keep the sanitizers on llmrt's code.
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L badinput -j "$jobs" --output-on-failure --no-tests=error

# The fuzz targets, briefly (15 s each over their corpora, docs/RELIABILITY.md); clang came with
# install-deps.sh --test, so its absence fails here.
FUZZ_REQUIRED=1 FUZZ_JOBS="$jobs" scripts/fuzz.sh 15

scripts/build.sh -DLLMRT_BUILD_TESTS=ON -DLLMRT_SANITIZE=OFF
# ctest lists skipped tests (the GPU ones, without a GPU) after its summary: repeat the summary
# last, so that the final line says how the run went.
set +e
ctest --test-dir build -j "$jobs" --output-on-failure --no-tests=error | tee build/ctest.log
status=${PIPESTATUS[0]}
set -e
grep -E "tests passed|tests failed" build/ctest.log | tail -n 1
exit "$status"
