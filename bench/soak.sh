#!/usr/bin/env bash
# Soak: a tiny GPT (d_model 32, 2 blocks, seq_len 32, pp 2) trains STEPS steps (default 20000)
# on two MPI ranks while each rank's resident memory (VmRSS in /proc/PID/status) and open file
# descriptors (/proc/PID/fd) are sampled every INTERVAL seconds (default 5). After warm-up (the
# first 10 % of the steps) both must stay flat: max − min within 1 % of the first sample after
# warm-up (samples in the last 2 % of the steps, when the ranks finish and close files, are left
# out too). metrics.jsonl grows by one line a step: expected disk use, not a leak.
#   bench/soak.sh [STEPS] [INTERVAL]      env: LLMRT (default build/llmrt), OUT (default build/soak)
# Writes OUT/samples.csv (t_s, step, rank, rss_kib, fds) and prints a summary per rank; exits 1
# when either is not flat or the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-20000}
interval=${2:-5}
llmrt=$(realpath "${LLMRT:-build/llmrt}")
out=${OUT:-build/soak}
rm -rf "$out" && mkdir -p "$out"
out=$(realpath "$out")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

sets=(train.steps="$steps" model.seq_len=32 model.layer[0].d_model=32 model.layer[1].d_model=32
      model.layer[1].repeat=2 model.layer[1].heads=2 train.global_batch=2 parallel.microbatch_size=1
      parallel.pp=2 train.lr_schedule.warmup_steps=5 metrics.log_every=1000 metrics.run_dir="$out/run")
args=()
for s in "${sets[@]}"; do args+=(--set "$s"); done
mpirun --oversubscribe -np 2 "$llmrt" run configs/local-cpu.toml "${args[@]}" >"$out/run.log" 2>&1 &
launcher=$!
trap 'kill "$launcher" 2>/dev/null || true' EXIT  # an interrupted soak leaves no ranks behind

# The two ranks: mpirun's children, each named by its OMPI_COMM_WORLD_RANK.
declare -A rank_of=()
for _ in $(seq 1 100); do
  for pid in $(pgrep -P "$launcher" || true); do
    rank=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
    [[ -n "$rank" ]] && rank_of[$pid]=$rank
  done
  [[ ${#rank_of[@]} -eq 2 ]] && break
  sleep 0.1
done
if [[ ${#rank_of[@]} -ne 2 ]]; then
  echo "soak: did not find two ranks under mpirun (pid $launcher)"; cat "$out/run.log"; exit 1
fi

echo "t_s,step,rank,rss_kib,fds" >"$out/samples.csv"
start=$(date +%s)
while kill -0 "$launcher" 2>/dev/null; do
  step=$(tail -n 1 "$out/run/metrics.jsonl" 2>/dev/null | grep -oE '"step":[0-9]+' | cut -d: -f2 || true)
  for pid in "${!rank_of[@]}"; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
    [[ -n "$rss" ]] && echo "$(( $(date +%s) - start )),${step:-0},${rank_of[$pid]},$rss,$fds" >>"$out/samples.csv"
  done
  sleep "$interval"
done
set +e
wait "$launcher"
status=$?
set -e
tail -n 3 "$out/run.log"
if [[ $status -ne 0 ]]; then echo "soak: the run failed (exit $status); see $out/run.log"; exit 1; fi

# Per rank, over the samples after warm-up and before the end: first, last, min, max and (max − min) / first.
awk -F, -v warm=$((steps / 10)) -v end=$((steps - steps / 50)) -v bytes="$(du -b "$out/run/metrics.jsonl" | cut -f1)" '
  NR > 1 && $2 >= warm && $2 < end {
    r = $3; n[r]++
    if (n[r] == 1) { first_rss[r] = $4; first_fd[r] = $5; min_rss[r] = max_rss[r] = $4; min_fd[r] = max_fd[r] = $5 }
    last_rss[r] = $4; last_fd[r] = $5
    if ($4 < min_rss[r]) min_rss[r] = $4; if ($4 > max_rss[r]) max_rss[r] = $4
    if ($5 < min_fd[r]) min_fd[r] = $5; if ($5 > max_fd[r]) max_fd[r] = $5
  }
  END {
    flat = 1
    printf "| rank | samples | VmRSS first → last (KiB) | min–max | drift | fds first → last | drift |\n"
    printf "| --- | --- | --- | --- | --- | --- | --- |\n"
    for (r in n) {
      drss = 100 * (max_rss[r] - min_rss[r]) / first_rss[r]; dfd = 100 * (max_fd[r] - min_fd[r]) / first_fd[r]
      printf "| %s | %d | %d → %d | %d–%d | %.2f %% | %d → %d | %.2f %% |\n", r, n[r], first_rss[r], last_rss[r],
             min_rss[r], max_rss[r], drss, first_fd[r], last_fd[r], dfd
      if (drss > 1 || dfd > 1 || n[r] < 3) flat = 0
    }
    if (length(n) != 2) flat = 0
    printf "metrics.jsonl: %d bytes (one line a step: disk use, not a leak)\n", bytes
    print (flat ? "soak: FLAT (within 1 % after warm-up)" : "soak: NOT FLAT (or too few samples after warm-up)")
    exit(flat ? 0 : 1)
  }' "$out/samples.csv"
