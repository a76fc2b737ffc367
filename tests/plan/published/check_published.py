#!/usr/bin/env python3
"""Each published run under tests/plan/published/ is feasible for `llmrt plan`: the layout its
header names (`# published: pp = P, tp = T, dp = D, ...`) is among the ranked layouts, planned
with the gpt plugins' own cost hints. Usage: check_published.py LLMRT FIXTURE_DIR"""
import json
import pathlib
import re
import subprocess
import sys


def main() -> int:
    llmrt, directory = sys.argv[1], pathlib.Path(sys.argv[2])
    fixtures = sorted(directory.glob("*.toml"))
    if not fixtures:
        print(f"no fixtures in {directory}")
        return 1
    failures = 0
    for fixture in fixtures:
        header = re.search(r"# published: pp = (\d+), tp = (\d+), dp = (\d+)", fixture.read_text())
        if header is None:
            print(f"FAIL {fixture.name}: no '# published: pp = …, tp = …, dp = …' line")
            failures += 1
            continue
        published = tuple(int(g) for g in header.groups())
        run = subprocess.run([llmrt, "plan", str(fixture), "--json"], capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            print(f"FAIL {fixture.name}: llmrt plan exited {run.returncode}: {run.stderr.strip()[-400:]}")
            failures += 1
            continue
        ranked = json.loads(run.stdout)["ranked"]
        degrees = [(r["layout"]["pp"], r["layout"]["tp"], r["layout"]["dp"]) for r in ranked]
        if published not in degrees:
            print(f"FAIL {fixture.name}: pp·tp·dp = {published} is not among the {len(ranked)} feasible layouts")
            failures += 1
            continue
        first = degrees.index(published)
        print(f"ok   {fixture.name}: pp·tp·dp = {published} feasible, first at rank {first + 1}, "
              f"recompute {ranked[first]['layout']['recompute']}, zero {ranked[first]['layout']['zero']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
