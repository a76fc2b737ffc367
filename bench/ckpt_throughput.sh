#!/usr/bin/env bash
# Checkpoint write and read throughput against raw sequential disk throughput on the same
# folder, and the step time while a checkpoint is written in the background (docs/PERFORMANCE.md).
#   bench/ckpt_throughput.sh [BUILD_DIR] [D_MODEL] [LAYERS]      defaults: build 384 8
# One rank, fp32, AdamW (two states): a checkpoint is 3 × 4 bytes × parameters.
set -euo pipefail
build=${1:-build}; d_model=${2:-384}; layers=${3:-8}
llmrt=$(realpath "$build/llmrt")
work=$(realpath "$build")/bench_ckpt
rm -rf "$work"; mkdir -p "$work"; cd "$work"
cat > job.toml <<TOML
[cluster]
[[cluster.node]]
name = "localhost"
cpus = { ranks = 1 }
[model]
seq_len = 32
vocab_size = 256
[[model.layer]]
component = "gpt.embedding"
d_model = $d_model
[[model.layer]]
component = "gpt.block"
repeat = $layers
d_model = $d_model
heads = 4
[[model.layer]]
component = "gpt.head"
[train]
steps = 16
global_batch = 1
optimizer = { component = "adamw", lr = 1e-3 }
[checkpoint]
dir = "ck"
every = 4
keep = 1
[metrics]
run_dir = "run"
prometheus = ""
tensorboard = false
TOML
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$llmrt" run job.toml > run.txt
grep "^checkpoint of step" run.txt
bytes=$(stat -c %s ck/latest >/dev/null; du -b ck/$(cat ck/latest)/pp0-tp0.safetensors | cut -f1)
mib=$((bytes / 1048576 + 1))
echo "raw sequential write of the same size (dd, 16 MiB blocks, fsync):"
dd if=/dev/zero of=raw.bin bs=1M count=$mib conv=fsync 2>&1 | tail -1
echo "raw sequential read (dd, page cache as warm as the checkpoint's):"
dd if=raw.bin of=/dev/null bs=16M 2>&1 | tail -1
rm -f raw.bin
start=$(date +%s.%N); "$llmrt" ckpt inspect ck > inspect.txt; end=$(date +%s.%N)
python3 - "$bytes" "$start" "$end" <<'PY'
import json, sys
size, start, end = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"checkpoint read (ckpt inspect: every byte read and CRC-32 checked): {size / 1e6:.0f} MB in {end - start:.3f} s, {size / 1e6 / (end - start):.0f} MB/s")
steps = [json.loads(line) for line in open("run/metrics.jsonl")]
during = [s["step_time_s"] for s in steps if s["step"] % 4 == 1 and s["step"] > 1]  # the step after a checkpoint began
other = [s["step_time_s"] for s in steps if s["step"] % 4 not in (0, 1) and s["step"] > 1]
med = lambda v: sorted(v)[len(v) // 2]
print(f"step time: median {med(other) * 1e3:.0f} ms without a write in flight, {med(during) * 1e3:.0f} ms with one ({len(during)} steps)")
PY
