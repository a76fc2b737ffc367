#!/usr/bin/env python3
"""Prediction truth: `llmrt plan`'s predicted step time and peak memory per rank against a
measured run of the same layout under mpirun, for each schedule given.

  python3 bench/prediction_truth.py [--config configs/local-cpu.toml] [--ranks 2] [--schedules 1f1b,zb-h1]

Prints one JSON line per schedule: predicted and measured step (median after 2 warm-up steps),
peak resident memory per rank, and the relative errors (targets: step within 15 %, memory 10 %).
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile


def predicted(llmrt, config, ranks, schedule):
    out = subprocess.run([llmrt, "plan", config, "--json", "--set", f"parallel.schedule={schedule}"],
                         check=True, capture_output=True, text=True).stdout
    for row in json.loads(out)["ranked"]:
        lay = row["layout"]
        if lay["schedule"] == schedule and lay["pp"] == ranks and lay.get("virtual_stages", 1) == 1:
            return row["step_time_s"], [g * 1024 for g in row["peak_memory_gib"]]
    raise SystemExit(f"no pp={ranks} {schedule} layout in the plan")


def measured(llmrt, config, ranks, schedule, steps):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["mpirun", "--oversubscribe", "-np", str(ranks), llmrt, "run", config,
                              "--set", f"parallel.pp={ranks}", "--set", "parallel.tp=1", "--set", "parallel.dp=1",
                              "--set", f"parallel.schedule={schedule}", "--set", f"train.steps={steps}",
                              "--set", f"metrics.run_dir={tmp}"], check=True, capture_output=True, text=True,
                             env=env).stdout
        times = [json.loads(line)["step_time_s"] for line in open(os.path.join(tmp, "metrics.jsonl"))][2:]
    memory = [float(x) for x in re.search(r"peak resident memory per rank: \[([^\]]*)\]", out).group(1).split(",")]
    return statistics.median(times), memory


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--llmrt", default="build/llmrt")
    p.add_argument("--config", default="configs/local-cpu.toml")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--schedules", default="1f1b,zb-h1")
    a = p.parse_args()
    for schedule in a.schedules.split(","):
        step_p, mem_p = predicted(a.llmrt, a.config, a.ranks, schedule)
        step_m, mem_m = measured(a.llmrt, a.config, a.ranks, schedule, a.steps)
        print(json.dumps({"schedule": schedule, "predicted_step_ms": round(step_p * 1e3, 1),
                          "measured_step_ms": round(step_m * 1e3, 1), "step_error": round(step_p / step_m - 1, 3),
                          "predicted_mib": [round(x, 1) for x in mem_p], "measured_mib": mem_m,
                          "memory_error": [round(x / y - 1, 3) for x, y in zip(mem_p, mem_m)]}))


if __name__ == "__main__":
    sys.exit(main())
