#!/usr/bin/env python3
"""1F1B pipeline efficiency, measured beside the formula.

Runs `mpirun -np P llmrt run CONFIG --trace` for a pipeline-parallel layout, reads the measured
step from the Chrome trace and prints, per rank: ideal compute time (its F, B and W passes) over
the measured step time, beside the bubble formula's m / (m + p - 1) for equal stages.

  python3 bench/pipeline_efficiency.py [--config configs/local-cpu.toml] [--steps 4] [--microbatches 8]
"""
import argparse, json, os, subprocess, sys, tempfile


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--llmrt", default="build/llmrt")
    p.add_argument("--config", default="configs/local-cpu.toml")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--microbatches", type=int, default=8)
    p.add_argument("--schedule", default="1f1b")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "step.json")
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        microbatch = 2
        cmd = ["mpirun", "--oversubscribe", "-np", str(a.ranks), a.llmrt, "run", a.config,
               "--set", f"parallel.pp={a.ranks}", "--set", "parallel.dp=1", "--set", "parallel.tp=1",
               "--set", f"parallel.schedule={a.schedule}", "--set", f"parallel.microbatch_size={microbatch}",
               "--set", f"train.global_batch={microbatch * a.microbatches}", "--set", f"train.steps={a.steps}",
               "--set", f"metrics.run_dir={tmp}", "--trace", trace, "--trace-step", str(a.steps)]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        events = json.load(open(trace))["traceEvents"]
    makespan = max(e["ts"] + e["dur"] for e in events if e["ph"] == "X")
    busy = {}
    for e in events:
        if e["ph"] == "X" and e.get("cat") in ("forward", "backward_input", "backward_weight"):
            busy[e["pid"]] = busy.get(e["pid"], 0) + e["dur"]
    p, m = a.ranks, a.microbatches
    formula = m / (m + p - 1)
    out = {"schedule": a.schedule, "pp": p, "microbatches": m, "step_ms": makespan / 1e3,
           "efficiency_per_rank": [round(busy[r] / makespan, 4) for r in sorted(busy)],
           "formula_efficiency": round(formula, 4), "formula_bubble": round((p - 1) / m, 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
