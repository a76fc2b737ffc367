#!/usr/bin/env bash
# Configures and builds llmrt (Release; Ninja and ccache when present) into BUILD_DIR (default build/).
#   scripts/build.sh [extra cmake arguments]     e.g. -DLLMRT_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
build_type=${BUILD_TYPE:-Release}

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [[ -f "$build_dir/CMakeCache.txt" ]]; then generator=(); fi  # keep the generator it was made with

cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
# BUILD_TARGET limits the build to one target (the sanitizer build makes only the bad-input tests).
cmake --build "$build_dir" -j "$(nproc)" ${BUILD_TARGET:+--target "$BUILD_TARGET"}
