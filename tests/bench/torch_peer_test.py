#!/usr/bin/env python3
"""bench/torch_gpt_ref.py, the PyTorch peer of the benchmarks, on a tiny odd shape: it runs from
the repository alone, prints its one JSON line, holds exactly the parameters llmrt's GPT layers
declare for that shape, and starts at the loss of a near-uniform prediction (ln V).
Exits 77 (skipped, visibly) when torch is missing."""
import json
import math
import os
import subprocess
import sys

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "torch_gpt_ref.py")
# Debian's python3-torch lives with /usr/bin/python3, which need not be the python3 on PATH.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
L, C, H, T, V, B = 2, 48, 3, 19, 97, 2

done = subprocess.run([PYTHON, PEER, "--layers", str(L), "--d-model", str(C), "--heads", str(H),
                       "--seq", str(T), "--vocab", str(V), "--batch", str(B), "--steps", "2", "--warmup", "1",
                       "--threads", "1", "--blas-threads", "1"], capture_output=True, text=True, timeout=300)
if done.returncode == 77:
    print(done.stderr.strip() or "SKIP: torch_gpt_ref.py skipped")
    sys.exit(77)
failures = []
if done.returncode != 0:
    failures.append(f"exit {done.returncode}: {done.stderr}")
else:
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # llmrt's param specs: wte (V, C), wpe (T, C); per block ln1 2C, qkv 3C²+3C, proj C²+C, ln2 2C,
    # fc 4C²+4C, fc2 4C²+C; head lnf 2C and the tied wte.
    expected = V * C + T * C + L * (2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C + C) + 2 * C
    if report.get("params") != expected:
        failures.append(f"params {report.get('params')}, llmrt's layers hold {expected}")
    if not abs(report["loss_first"] - math.log(V)) < 0.3:
        failures.append(f"first loss {report['loss_first']:.3f}, expected about ln V = {math.log(V):.3f}")
    for key in ("tokens_per_s", "step_ms_median", "model_tflops"):
        if not report.get(key, 0) > 0:
            failures.append(f"{key} = {report.get(key)}: expected a positive figure")
    if report["shape"] != {"layers": L, "d_model": C, "heads": H, "seq": T, "vocab": V, "batch": B}:
        failures.append(f"shape {report['shape']} is not the one asked for")
bad = subprocess.run([PYTHON, PEER, "--d-model", "50", "--heads", "3"], capture_output=True, text=True)
if bad.returncode != 2 or "does not divide" not in bad.stderr:
    failures.append(f"--heads 3 with --d-model 50 should be refused with exit 2, got {bad.returncode}: {bad.stderr}")
for failure in failures:
    print("FAIL:", failure)
print(f"torch_peer_test: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
