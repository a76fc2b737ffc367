#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (build-fuzz/, LLMRT_FUZZ: ASan + UBSan +
# coverage) and runs each for SECONDS (default 15) over a copy of its seed corpus; fails on any
# crash, leak, sanitizer report, timeout (an input over 10 s) or out-of-memory.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# FUZZ_JOBS=N runs N targets at once (default 1); findings land in build-fuzz/findings/<target>/,
# each target's log in build-fuzz/logs/<target>.log (its last line carries cov: and ft:).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(config_loader config_set token_shards plugin_elf ckpt_reader); fi
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang++ >/dev/null 2>&1; then
  # scripts/test.sh installed clang (install-deps.sh --test) and sets FUZZ_REQUIRED: there a
  # missing clang is a broken install, not a reason to stop fuzzing unnoticed.
  if [[ -n ${FUZZ_REQUIRED:-} ]]; then
    echo "fuzz.sh: FAILED: clang++ not found, though install-deps.sh --test installs it"
    exit 1
  fi
  echo "fuzz.sh: SKIPPED: clang++ not found (apt-get install clang); the corpora still replay in ctest"
  exit 0
fi
generator=()
if command -v ninja >/dev/null 2>&1 && [[ ! -f "$build_dir/CMakeCache.txt" ]]; then generator=(-G Ninja); fi
CC=clang CXX=clang++ cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLLMRT_FUZZ=ON -DLLMRT_BUILD_TESTS=OFF -DLLMRT_CUDA=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target llmrt_fuzz

run_target() {
  local target=$1 work="$build_dir/fuzz-corpus/$target" findings="$build_dir/findings/$target"
  rm -rf "$work" && mkdir -p "$work" "$findings" "$build_dir/logs"
  cp tests/fuzz/corpus/"$target"/* "$work"/
  # The crash regressions seed the run too: a fix that regresses is found in the first second.
  if [[ -d tests/fuzz/crashes/$target ]]; then cp tests/fuzz/crashes/"$target"/* "$work"/; fi
  # Open MPI and the like are not linked; every leak LeakSanitizer reports is ours.
  if "$build_dir/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=16384 -print_final_stats=1 -artifact_prefix="$findings/" "$work" \
       >"$build_dir/logs/$target.log" 2>&1; then
    echo "fuzz $target: ok, $(grep -E '^stat::number_of_executed_units' "$build_dir/logs/$target.log" |
      awk '{print $2}') executions in ${seconds} s; $(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' \
      "$build_dir/logs/$target.log" | tail -n 1)"
  else
    echo "fuzz $target: FAILED (log $build_dir/logs/$target.log, input in $findings/):"
    grep -E "ERROR|SUMMARY|runtime error|llmrt fuzz|Test unit written" "$build_dir/logs/$target.log" | head -n 20
    return 1
  fi
}

status=0
jobs=${FUZZ_JOBS:-1}
pids=()
for target in "${targets[@]}"; do
  run_target "$target" &
  pids+=($!)
  if [[ ${#pids[@]} -ge $jobs ]]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit "$status"
