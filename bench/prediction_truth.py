#!/usr/bin/env python3
"""Prediction truth: `llmrt plan`'s predicted step time and peak memory per rank against a
measured run of the same layout under mpirun.

  python3 bench/prediction_truth.py [--config configs/local-cpu.toml] [--layout 2,1,1]
      [--schedules 1f1b,zb-h1] [--set KEY=VALUE ...] [--variant "train.recompute=full" ...]

--layout is pp,tp,dp (the ranks are their product). Each --variant is one or more KEY=VALUE
separated by ";" (e.g. "train.recompute=selective;parallel.zero=1"), measured once per schedule;
without --variant the config is measured as it is. --set applies to every run (e.g. a deeper
model: --set "model.layer[1].repeat=12").

Prints one JSON line per (variant, schedule): predicted and measured step (median after 2
warm-up steps), peak resident memory per rank, and the relative errors (targets: step within
15 %, memory within 10 %).
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile


def set_args(sets):
    return [arg for item in sets for arg in ("--set", item)]


def predicted(llmrt, config, layout, schedule, sets):
    pp, tp, dp = layout
    fixed = [f"parallel.pp={pp}", f"parallel.tp={tp}", f"parallel.dp={dp}", f"parallel.schedule={schedule}"]
    out = subprocess.run([llmrt, "plan", config, "--json"] + set_args(sets + fixed), check=True,
                         capture_output=True, text=True).stdout
    for row in json.loads(out)["ranked"]:
        lay = row["layout"]
        if (lay["schedule"], lay["pp"], lay["tp"], lay["dp"]) == (schedule, pp, tp, dp) and \
                lay.get("virtual_stages", 1) == 1:
            return row["step_time_s"], [g * 1024 for g in row["peak_memory_gib"]], row
    raise SystemExit(f"no pp{pp}·tp{tp}·dp{dp} {schedule} layout in the plan")


def measured(llmrt, config, layout, schedule, steps, sets):
    pp, tp, dp = layout
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    fixed = [f"parallel.pp={pp}", f"parallel.tp={tp}", f"parallel.dp={dp}", f"parallel.schedule={schedule}",
             f"train.steps={steps}"]
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["mpirun", "--oversubscribe", "-np", str(pp * tp * dp), llmrt, "run", config]
                             + set_args(sets + fixed + [f"metrics.run_dir={tmp}"]), check=True,
                             capture_output=True, text=True, env=env).stdout
        times = [json.loads(line)["step_time_s"] for line in open(os.path.join(tmp, "metrics.jsonl"))][2:]
    memory = [float(x) for x in re.search(r"peak resident memory per rank: \[([^\]]*)\]", out).group(1).split(",")]
    return statistics.median(times), memory


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--llmrt", default="build/llmrt")
    p.add_argument("--config", default="configs/local-cpu.toml")
    p.add_argument("--layout", default="2,1,1", help="pp,tp,dp")
    p.add_argument("--ranks", type=int, help="shorthand for --layout RANKS,1,1")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--schedules", default="1f1b,zb-h1")
    p.add_argument("--set", action="append", default=[], dest="sets")
    p.add_argument("--variant", action="append", default=[])
    a = p.parse_args()
    layout = (a.ranks, 1, 1) if a.ranks else tuple(int(x) for x in a.layout.split(","))
    for variant in a.variant or [""]:
        sets = a.sets + [item for item in variant.split(";") if item]
        for schedule in a.schedules.split(","):
            step_p, mem_p, row = predicted(a.llmrt, a.config, layout, schedule, sets)
            step_m, mem_m = measured(a.llmrt, a.config, layout, schedule, a.steps, sets)
            print(json.dumps({"variant": variant, "schedule": schedule, "layout": "pp{}·tp{}·dp{}".format(*layout),
                              "planned_recompute": row["layout"].get("recompute"),
                              "planned_zero": row["layout"].get("zero"),
                              "predicted_step_ms": round(step_p * 1e3, 1),
                              "measured_step_ms": round(step_m * 1e3, 1), "step_error": round(step_p / step_m - 1, 3),
                              "predicted_mib": [round(x, 1) for x in mem_p], "measured_mib": mem_m,
                              "memory_error": [round(x / y - 1, 3) for x, y in zip(mem_p, mem_m)]}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
