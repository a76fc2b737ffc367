#!/usr/bin/env bash
# The one command for a lent GPU machine: the CUDA kernel tests, then GPT-2 124M training-step
# throughput of llmrt's kernels beside PyTorch's. Two halves, because that machine has CUDA,
# PyTorch, CMake and ninja but none of our Debian packages and no network:
#
#   HERE:   scripts/gpu-check.sh prepare   # build the CUDA targets, make the kit, stage what travels,
#                                          # and print (dry run) what will be carried and its size
#   THERE:  bash scripts/gpu-check.sh run  # with carry [".gpukit", "build-cuda/gpu-carry"]
#
# `run` runs every staged cuda_* test binary (exit 77 = skipped: no GPU; a failure while
# nvidia-smi lists a GPU; cuda_gpt_layers covers every layer at f32, bf16 and f16), llmrt
# training on the GPU (GPT-2 124M bf16 for 20 steps; a small GPT at bf16, f32 and fp16 against
# the CPU fp32 losses made here, and at bf16 with train.cuda_graph against its eager run),
# bench_gpt_cuda and bench/torch_gpt_ref.py (eager and compiled) on the same shapes, cuda_comm_gpu under `mpirun -np 2`, and tp2, dp2 and pp2 as two
# ranks on the one GPU against one rank; every binary under its own timeout; one table out.
# With $OUT set (the device tool sets it) the logs and the table are also written there.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build-cuda}
STAGE="$BUILD_DIR/gpu-carry"          # under /build*/, so git ignores it and the tool may carry it
KIT_DIR=.gpukit                       # not $KIT: enter.sh reads that as its unpack prefix
CARRY_LIMIT_MIB=64
SHARED=${LLMRT_SHARED_DIR:-../shared}  # only for the kit's maker (gpu-kit/make-kit.sh), used HERE
# The small GPT of the training checks: GPT-2 124M's config shrunk, 20 steps, lr warm-up of 5.
SMALL=(--set model.seq_len=128 --set 'model.layer[0].d_model=128' --set 'model.layer[1].d_model=128'
       --set 'model.layer[1].heads=4' --set 'model.layer[1].repeat=2' --set parallel.microbatch_size=4
       --set train.global_batch=8 --set train.steps=20 --set metrics.log_every=5
       --set 'train.lr_schedule={ component = "cosine", warmup_steps = 5, min_lr = 6e-5 }')
# GPT-2 124M at T=1024, the shapes both benchmarks run.
SHAPE=(--layers 12 --d-model 768 --heads 12 --seq 1024 --vocab 50304 --batch 16)
PEAK_TFLOPS=989                       # H100 SXM bf16 dense

die() { echo "gpu-check: $*" >&2; exit 1; }

build_here() {
  cmake -S . -B "$BUILD_DIR" -G Ninja ${LLMRT_CMAKE_ARGS:-} >/dev/null || die "cmake configure failed"
  local targets
  targets=$(cmake --build "$BUILD_DIR" --target help \
    | sed -n 's/^\(cuda_[a-z0-9_]*\|bench_gpt_cuda\|bench_p2p_cuda\|llmrt\|llmrt_gpt\|llmrt_optim\|llmrt_lr\|llmrt_schedule_[a-z0-9_]*\):.*/\1/p' | sort -u)
  [ -n "$targets" ] || die "no CUDA targets: is nvcc installed (LLMRT_HAVE_CUDA)?"
  # The CLI's target is its output file at the top of the build tree: help lists no alias for it.
  targets="$targets llmrt"
  # shellcheck disable=SC2086
  cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target $targets || die "build failed"
}

ensure_kit() {
  # The kit is Debian's runtime packages as .debs; the CUDA kernels' tests also need libgomp
  # (OpenMP, through the CPU reference kernels), which the stock kit leaves to the system.
  if [ ! -f "$KIT_DIR/enter.sh" ] || ! ls "$KIT_DIR"/debs/libgomp1_*.deb >/dev/null 2>&1; then
    [ -x "$SHARED/gpu-kit/make-kit.sh" ] || die "no kit and no $SHARED/gpu-kit/make-kit.sh to make one"
    EXTRA_PKGS="libgomp1 ${EXTRA_PKGS:-}" "$SHARED/gpu-kit/make-kit.sh" "$KIT_DIR" >/dev/null \
      || die "make-kit.sh failed (run 'apt-get update' first)"
  fi
}

stage() {
  rm -rf "$STAGE" && mkdir -p "$STAGE/bin" "$STAGE/lib/llmrt/plugins" "$STAGE/data"
  find "$BUILD_DIR" -path "$STAGE" -prune -o -type f -perm -u+x \( -name 'cuda_*' -o -name bench_gpt_cuda -o -name bench_p2p_cuda \) \
    -print | while read -r f; do cp "$f" "$STAGE/bin/"; done
  # llmrt itself and its built-in plugins, where the binary looks for them (../lib/llmrt/plugins).
  if [ -x "$BUILD_DIR/llmrt" ]; then
    cp "$BUILD_DIR/llmrt" "$STAGE/bin/"
    cp "$BUILD_DIR"/lib/llmrt/plugins/*.so "$STAGE/lib/llmrt/plugins/"
    stage_training_inputs
  fi
  strip --strip-debug "$STAGE"/bin/* "$STAGE"/lib/llmrt/plugins/*.so 2>/dev/null || true
  pack
}

# Every binary links the CUDA kernels statically (three storage types, two architectures), so
# bin/ and lib/ hold ~190 MiB of mostly the same fatbins: one xz archive of them is ~21 MiB,
# inside the carry limit. `run` unpacks it (tar, or Python's lzma where xz is missing).
pack() {
  echo "gpu-check: packing the binaries (xz; a few minutes on 2 cores)" >&2
  tar -C "$STAGE" -cf - bin lib | xz -T2 -6 > "$STAGE/payload.tar.xz" || die "packing failed"
  rm -rf "$STAGE/bin" "$STAGE/lib"
}

# THERE: the carried folder may be read-only; unpack into a fresh folder and run from it.
unpack() {
  [ -f "$STAGE/payload.tar.xz" ] || return 0
  local dest
  dest=$(mktemp -d) || die "mktemp failed"
  cp -r "$STAGE"/. "$dest"/ && rm -f "$dest/payload.tar.xz"
  if command -v xz >/dev/null; then
    tar -C "$dest" -xJf "$STAGE/payload.tar.xz" || die "unpacking failed"
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
      "$STAGE/payload.tar.xz" "$dest" || die "unpacking failed (python3 tarfile)"
  fi
  STAGE=$dest
}

# Text every Debian has, as byte-level shards (the GPU machine has no network), and the CPU
# fp32 losses of the small model the GPU run is held against: the same job rehearsed here.
stage_training_inputs() {
  "$BUILD_DIR/llmrt" data prepare /usr/share/common-licenses/GPL-3 "$STAGE/data/gpl" >/dev/null || die "data prepare failed"
  # The same model, seed, optimizer and data on one CPU rank in fp32: an oracle that shares no
  # kernel with the GPU runs held against it (the GPU config at fp32 is one of them).
  "$BUILD_DIR/llmrt" run configs/local-cpu.toml "${SMALL[@]}" --set model.vocab_size=50304 \
    --set 'train.optimizer={ component = "adamw", lr = 6e-4, betas = [0.9, 0.95], weight_decay = 0.1 }' \
    --set 'train.precision="fp32"' --set "data.train=\"$STAGE/data/gpl_train.bin\"" \
    --set "metrics.run_dir=\"$STAGE/reference\"" >/dev/null || die "the CPU reference run failed"
  rm -f "$STAGE/reference/config.resolved.toml" "$STAGE/reference/plan.json"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

dry_run() {
  local tree carried total
  # What the tool sends anyway: tracked files plus untracked ones git does not ignore.
  tree=$(git ls-files -z -co --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
  carried=$(du -sb "$KIT_DIR" "$STAGE" | awk '{ s += $1 } END { print s + 0 }')
  total=$((tree + carried))
  echo "== would carry (dry run) =="
  (cd "$STAGE" && find . -type f -printf '  %-28p %8s bytes\n' | sort)
  if [ -f "$STAGE/payload.tar.xz" ]; then
    echo "  payload.tar.xz holds:"
    tar -tvJf "$STAGE/payload.tar.xz" | awk '$3 > 0 { printf "    %-34s %10s bytes\n", $6, $3 }'
  fi
  printf '  %-28s %8s MiB\n' "$KIT_DIR" "$(mib "$(du -sb "$KIT_DIR" | cut -f1)")"
  echo "working tree $(mib "$tree") MiB + carried $(mib "$carried") MiB = $(mib "$total") MiB (limit $CARRY_LIMIT_MIB MiB)"
  [ "$total" -lt $((CARRY_LIMIT_MIB * 1048576)) ] || die "over the carry limit"
  echo "device call: run(command='bash scripts/gpu-check.sh run', carry=['$KIT_DIR', '$STAGE'], timeout_s=540)"
}

# ---- THERE ----

declare -a ROWS=()
row() { ROWS+=("$(printf '%-34s %s' "$1" "$2")"); }

# A test that skips (exit 77) while nvidia-smi lists a GPU is a failure: the GPU is there and
# the test could not use it. The row quotes the log's last line, the CUDA error that made it skip.
skip_status() {
  if [ "$GPU_LISTED" = 1 ]; then
    echo "FAILED (skipped with a GPU present: $(tail -n 1 "$1" | cut -c1-120))"
    return 1
  fi
  echo "SKIPPED (no GPU)"
}

run_tests() {
  local t rc status failed=0 log
  for t in "$STAGE"/bin/cuda_*; do
    [ -x "$t" ] || continue
    log="$LOG_DIR/$(basename "$t").log"
    # The layer test runs each layer at three dtypes against the CPU path at GPT-2's shapes.
    timeout "$([ "$(basename "$t")" = cuda_gpt_layers ] && echo 180 || echo 120)" "$t" --log_level=message >"$log" 2>&1
    rc=$?
    case $rc in
      0) status=passed ;;
      77) status=$(skip_status "$log") || failed=1 ;;
      *) status="FAILED (exit $rc)"; failed=1; tail -n 30 "$log" ;;
    esac
    row "$(basename "$t")" "$status"
  done
  return $failed
}

# The GPU collectives again under two ranks sharing the one GPU: NCCL refuses that, so the
# sums go through the pinned staging path (runtime/comm/device_staging.h).
run_mpi_tests() {
  local t="$STAGE/bin/cuda_comm_gpu" name="cuda_comm_gpu (mpirun -np 2)" rc status
  [ -x "$t" ] || return 0
  command -v mpirun >/dev/null || { row "$name" "not run: no mpirun in the kit"; return 0; }
  timeout 120 mpirun --oversubscribe -np 2 "$t" --log_level=message >"$LOG_DIR/cuda_comm_gpu_np2.log" 2>&1
  rc=$?
  local failed=0
  case $rc in
    0) status=passed ;;
    77) status=$(skip_status "$LOG_DIR/cuda_comm_gpu_np2.log") || failed=1 ;;
    *) status="FAILED (exit $rc)"; failed=1; tail -n 30 "$LOG_DIR/cuda_comm_gpu_np2.log" ;;
  esac
  row "$name" "$status"
  return $failed
}

run_benches() {
  local line
  if [ -x "$STAGE/bin/bench_gpt_cuda" ]; then
    line=$(timeout 150 "$STAGE/bin/bench_gpt_cuda" "${SHAPE[@]}" --steps 20 --peak-tflops $PEAK_TFLOPS 2>&1 | tee -a "$LOG_DIR/bench.log" | tail -n 1)
    row "llmrt bench_gpt_cuda" "$line"
  else
    row "llmrt bench_gpt_cuda" "not built"
  fi
  # The PyTorch peer is part of the checkout (bench/), which travels anyway.
  if [ -f bench/torch_gpt_ref.py ] && command -v python3 >/dev/null; then
    # Outside the kit's library path: PyTorch brings its own CUDA libraries. Eager, then compiled.
    local mode
    for mode in eager compile; do
      line=$(env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" PYTHONUNBUFFERED=1 timeout 240 python3 bench/torch_gpt_ref.py \
        --device cuda --dtype bf16 $([ "$mode" = compile ] && echo --compile) "${SHAPE[@]}" --steps 30 \
        --peak-tflops $PEAK_TFLOPS 2>&1 | tee -a "$LOG_DIR/torch_$mode.log" | tail -n 1)
      row "torch_gpt_ref.py ($mode, bf16)" "$line"
    done
  else
    row "torch_gpt_ref.py" "not run: no python3"
  fi
  # Pipeline p2p against raw NCCL at a stage's activation size (target ratio >= 0.9); it needs a
  # GPU per rank, so on one GPU it says it skipped (exit 77) and why. A few seconds.
  if [ -x "$STAGE/bin/bench_p2p_cuda" ]; then
    timeout 60 mpirun --oversubscribe -np 2 "$STAGE/bin/bench_p2p_cuda" >"$LOG_DIR/bench_p2p.log" 2>&1
    case $? in
      0) line=$(tail -n 1 "$LOG_DIR/bench_p2p.log") ;;
      77) line="SKIPPED (needs a GPU per rank; NCCL refuses two ranks on one GPU)" ;;
      *) line="FAILED: $(grep -v '^-*$' "$LOG_DIR/bench_p2p.log" | tail -n 1 | cut -c1-100)" ;;
    esac
    row "llmrt bench_p2p_cuda (2 ranks)" "$line"
  else
    row "llmrt bench_p2p_cuda" "not built"
  fi
}

# The losses of a run's metrics.jsonl, one per line.
losses_of() { sed -n 's/.*"loss":\([-0-9.e+]*\).*/\1/p' "$1/metrics.jsonl" 2>/dev/null; }

# `name`: every step of run dir $2 within $3 of run dir $4's (same step count), else the worst.
compare_losses() {
  local name=$1 got=$2 tolerance=$3 want=$4 verdict steps
  steps=$(losses_of "$got" | wc -l)
  if [ "$steps" -lt 20 ]; then
    row "$name" "FAILED ($steps steps of 20 in $got; its log says why)"
    return 1
  fi
  verdict=$(paste <(losses_of "$got") <(losses_of "$want") | awk -v tol="$tolerance" '
    { n++; d = $1 - $2; if (d < 0) d = -d; if (d > worst) worst = d }
    END { if (worst > tol) print "FAILED (worst " worst " > " tol ")";
          else print "passed (worst " worst ", " n " steps)" }')
  row "$name" "$verdict"
  [[ $verdict == passed* ]]
}

# llmrt training on the GPU: GPT-2 124M for 20 steps (first loss ln(50304) ± 0.3, falling), and
# the small model against the CPU fp32 reference made at prepare time: bf16 and fp16 (dynamic
# loss scale) at 16-bit tolerance, fp32 at accumulation-order tolerance.
run_training() {
  local bin="$STAGE/bin/llmrt" data="data.train=\"$STAGE/data/gpl_train.bin\"" failed=0 first last verdict
  [ -x "$bin" ] || { row "llmrt training" "not staged"; return 0; }
  [ "$GPU_LISTED" = 1 ] || { row "llmrt training" "SKIPPED (no GPU)"; return 0; }
  timeout 150 "$bin" run configs/gpt2-124m-h100.toml --set train.steps=20 --set metrics.log_every=5 --set "$data" \
    --set 'train.lr_schedule={ component = "cosine", warmup_steps = 5, min_lr = 6e-5 }' \
    --set "metrics.run_dir=\"$LOG_DIR/run_124m\"" >"$LOG_DIR/run_124m.log" 2>&1 || failed=1
  first=$(losses_of "$LOG_DIR/run_124m" | head -n 1)
  last=$(losses_of "$LOG_DIR/run_124m" | tail -n 1)
  verdict=$(awk -v f="${first:-0}" -v l="${last:-99}" 'BEGIN { ln = log(50304);
    if (f < ln - 0.3 || f > ln + 0.3) print "FAILED (first loss " f ", ln V = " ln ")";
    else if (l >= f) print "FAILED (no fall: " f " -> " l ")"; else print "passed (" f " -> " l ")" }')
  [ "$failed" = 1 ] && verdict="FAILED (exit; $(tail -n 1 "$LOG_DIR/run_124m.log" | cut -c1-100))"
  row "llmrt GPT-2 124M, 20 steps" "$verdict"
  [[ $verdict == passed* ]] || failed=1
  timeout 90 "$bin" run configs/gpt2-124m-h100.toml "${SMALL[@]}" --set "$data" \
    --set "metrics.run_dir=\"$LOG_DIR/run_small\"" >"$LOG_DIR/run_small.log" 2>&1
  compare_losses "small GPT bf16 vs CPU fp32" "$LOG_DIR/run_small" 0.05 "$STAGE/reference" || failed=1
  # train.cuda_graph: step 1 eager, step 2 captured, 3..20 replayed; the same kernels and the
  # same cuBLASLt algorithms as the eager run, so the same losses (bitwise expected; 1e-5 allowed).
  timeout 90 "$bin" run configs/gpt2-124m-h100.toml "${SMALL[@]}" --set "$data" --set train.cuda_graph=true \
    --set "metrics.run_dir=\"$LOG_DIR/run_small_graph\"" >"$LOG_DIR/run_small_graph.log" 2>&1
  compare_losses "small GPT bf16 CUDA graph vs eager" "$LOG_DIR/run_small_graph" 0.00001 "$LOG_DIR/run_small" || failed=1
  local precision tolerance
  for precision in fp32 fp16; do
    tolerance=$([ "$precision" = fp32 ] && echo 0.002 || echo 0.05)
    timeout 60 "$bin" run configs/gpt2-124m-h100.toml "${SMALL[@]}" --set "$data" --set "train.precision=\"$precision\"" \
      --set "metrics.run_dir=\"$LOG_DIR/run_small_$precision\"" >"$LOG_DIR/run_small_$precision.log" 2>&1
    compare_losses "small GPT $precision vs CPU fp32" "$LOG_DIR/run_small_$precision" "$tolerance" "$STAGE/reference" \
      || failed=1
  done
  return $failed
}

# tp2, dp2 and pp2 as two ranks sharing the one GPU (--share-gpus: the staging path, since
# NCCL refuses a shared GPU), each against the one-rank GPU run of the same small model (0.01).
run_layouts() {
  local bin="$STAGE/bin/llmrt" degree failed=0
  [ -x "$bin" ] || return 0
  [ "$GPU_LISTED" = 1 ] || { row "llmrt tp2/dp2/pp2" "SKIPPED (no GPU)"; return 0; }
  command -v mpirun >/dev/null || { row "llmrt tp2/dp2/pp2" "not run: no mpirun in the kit"; return 0; }
  for degree in tp dp pp; do
    timeout 90 mpirun --oversubscribe -np 2 "$bin" run configs/gpt2-124m-h100.toml --share-gpus "${SMALL[@]}" \
      --set "data.train=\"$STAGE/data/gpl_train.bin\"" --set 'cluster.node[0].gpus.count=2' \
      --set "parallel.$degree=2" --set "metrics.run_dir=\"$LOG_DIR/run_$degree\"" >"$LOG_DIR/run_$degree.log" 2>&1
    compare_losses "llmrt ${degree}2 on one GPU vs one rank" "$LOG_DIR/run_$degree" 0.01 "$LOG_DIR/run_small" || failed=1
  done
  return $failed
}

run_there() {
  unpack
  [ -d "$STAGE/bin" ] || die "$STAGE/bin missing: run 'scripts/gpu-check.sh prepare' here and carry $STAGE"
  LOG_DIR=${OUT:-$(mktemp -d)}
  ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
  # shellcheck disable=SC1091
  source "$KIT_DIR/enter.sh" || die "could not source $KIT_DIR/enter.sh"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
  GPU_LISTED=0
  nvidia-smi -L 2>/dev/null | grep -q '^GPU ' && GPU_LISTED=1
  # cuBLASLt and the CUDA runtime come from the machine; if its toolkit lacks them, take
  # PyTorch's CUDA wheels' copies (nvidia-* packages) rather than fail to load.
  if ldd "$STAGE"/bin/* 2>/dev/null | grep -q "not found"; then
    local extra
    extra=$(env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" python3 -c 'import nvidia, glob, os
print(":".join(sorted({os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(d + "/**/lib*.so*", recursive=True)})))' 2>/dev/null)
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$extra"
    ldd "$STAGE"/bin/* 2>/dev/null | grep "not found" | sort -u | sed 's/^/still missing: /'
  fi
  # cuBLASLt is loaded at first use too (kernels/cuda/cublaslt_library.h): point
  # LLMRT_CUBLASLT_LIBRARY at one when the loader has none on its path.
  if [ -z "${LLMRT_CUBLASLT_LIBRARY:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcublasLt.so'; then
    local lt lt_roots
    lt_roots=$(env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" python3 -c 'import nvidia; print(" ".join(nvidia.__path__))' 2>/dev/null)
    # shellcheck disable=SC2086
    lt=$(find ${LD_LIBRARY_PATH//:/ } /usr/local/cuda*/lib* $lt_roots -name 'libcublasLt.so.*' 2>/dev/null | sort | head -n 1)
    if [ -n "$lt" ]; then export LLMRT_CUBLASLT_LIBRARY="$lt"; echo "cublasLt: $lt"; else echo "cublasLt: none found"; fi
  fi
  # NCCL is loaded at run time (runtime/comm/nccl_library.h), so ldd does not list it: point
  # LLMRT_NCCL_LIBRARY at one when the loader has none (PyTorch's nvidia-nccl wheel has one).
  if [ -z "${LLMRT_NCCL_LIBRARY:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libnccl.so.2 '; then
    local nccl roots
    roots=$(env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" python3 -c 'import nvidia; print(" ".join(nvidia.__path__))' 2>/dev/null)
    # shellcheck disable=SC2086
    nccl=$(find /usr/local/cuda*/lib* $roots -name 'libnccl.so.2' 2>/dev/null | head -n 1)
    if [ -n "$nccl" ]; then export LLMRT_NCCL_LIBRARY="$nccl"; echo "nccl: $nccl"; else echo "nccl: none found (staging path only)"; fi
  fi
  local failed=0
  run_tests || failed=1
  # The benchmark before the multi-rank tests: a hang there must not cost the figures.
  run_training || failed=1
  if [ "${GPU_CHECK_SKIP_BENCH:-0}" != 1 ]; then run_benches; fi
  run_mpi_tests || failed=1
  run_layouts || failed=1
  { echo "== gpu-check =="; printf '%s\n' "${ROWS[@]}"; } | tee "$LOG_DIR/summary.txt"
  return $failed
}

case "${1:-prepare}" in
  prepare) build_here && ensure_kit && stage && dry_run ;;
  dry-run) dry_run ;;
  run) run_there ;;
  *) die "usage: $0 [prepare|dry-run|run]" ;;
esac
