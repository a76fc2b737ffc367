#!/usr/bin/env python3
"""The include checker itself, on tiny trees made here: a clean tree passes, each forbidden edge
of docs/architecture.md that the issue names (kernels → runtime, plugins → runtime internals,
plan → comm/exec, config → comm) fails with file:line and the rule, allowed edges stay quiet,
and a rules file without the table is bad input (exit 2)."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_includes.py")
RULES = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "architecture.md"))

# Headers the fixtures include, so that includes resolve the way they do in the real tree.
HEADERS = ["runtime/exec/trainer.h", "runtime/comm/process_groups.h", "runtime/plugin/registry.h",
           "runtime/util/status.h", "runtime/config/spec.h", "runtime/include/llmrt/plugin.h",
           "kernels/ref/kernels_ref.h", "kernels/cpu/kernels_cpu.h"]

CLEAN = {
    "kernels/cpu/dense_cpu.cpp": '#include "cpu/kernels_cpu.h"\n#include "ref/kernels_ref.h"\n#include <cblas.h>\n',
    "plugins/gpt/block.cpp": '#include <llmrt/plugin.h>\n#include "cpu/kernels_cpu.h"\n#include <vector>\n',
    "runtime/config/read.cpp": '#include "config/spec.h"\n#include "util/status.h"\n',
    "runtime/plan/planner.cpp": '#include "config/spec.h"\n#include <fmt/format.h>\n',
    "runtime/exec/trainer.cpp": '#include "exec/trainer.h"\n#include "comm/process_groups.h"\n#include <mpi.h>\n',
    "tests/anything_test.cpp": '#include "exec/trainer.h"\n#include "cpu/kernels_cpu.h"\n',
}

# file -> (its text, the violation lines expected: "file:line: ... rule: FROM must not include TO")
VIOLATING = {
    "kernels/ref/attention_ref.cpp": ('#include "ref/kernels_ref.h"\n#include "exec/trainer.h"\n',
                                      ["kernels/ref/attention_ref.cpp:2: includes exec/trainer.h (runtime/exec/trainer.h): "
                                       "rule: kernels/ must not include runtime/"]),
    "plugins/gpt/head.cpp": ('#include <llmrt/plugin.h>\n#include "plugin/registry.h"\n',
                             ["plugins/gpt/head.cpp:2: includes plugin/registry.h (runtime/plugin/registry.h): "
                              "rule: plugins/ must not include runtime/"]),
    "runtime/plan/simulate.cpp": ('#include "comm/process_groups.h"\n\n#include "exec/trainer.h"\n#include <mpi.h>\n',
                                  ["runtime/plan/simulate.cpp:1: includes comm/process_groups.h (runtime/comm/process_groups.h): "
                                   "rule: runtime/plan/ must not include runtime/comm/",
                                   "runtime/plan/simulate.cpp:3: includes exec/trainer.h (runtime/exec/trainer.h): "
                                   "rule: runtime/plan/ must not include runtime/exec/",
                                   "runtime/plan/simulate.cpp:4: includes mpi.h (<mpi.h>): rule: runtime/plan/ must not include <mpi.h>"]),
    "runtime/config/read_job.cpp": ('  #  include "comm/process_groups.h"  // spaced, still an include\n',
                                    ["runtime/config/read_job.cpp:1: includes comm/process_groups.h "
                                     "(runtime/comm/process_groups.h): rule: runtime/config/ must not include runtime/"]),
}


def make_tree(root, files):
    for path in HEADERS:
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        open(os.path.join(root, path), "w").write("#pragma once\n")
    for path, text in files.items():
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        open(os.path.join(root, path), "w").write(text)


def run(root, rules=RULES):
    done = subprocess.run([sys.executable, CHECKER, "--root", root, "--rules", rules],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


failures = []


def expect(condition, what, output):
    if not condition:
        failures.append(f"{what}\n--- checker output ---\n{output}")


with tempfile.TemporaryDirectory() as clean:
    make_tree(clean, CLEAN)
    code, out = run(clean)
    expect(code == 0, f"a clean tree should pass (exit {code})", out)
    expect("0 forbidden includes" in out, "the summary should count 0", out)
    # A known exception that no longer occurs is noted, not failed.
    stale_rules = os.path.join(clean, "rules_with_exception.md")
    open(stale_rules, "w").write(open(RULES).read().rstrip("\n") +
                                 "\n| `runtime/plan/planner.cpp` | `runtime/exec/` | a fixture row |\n")
    code, out = run(clean, stale_rules)
    expect(code == 0, f"a stale exception should not fail the check (exit {code})", out)
    expect("no longer occurs: delete its row" in out, "stale known exceptions should be noted", out)

with tempfile.TemporaryDirectory() as bad:
    make_tree(bad, dict(CLEAN, **{path: text for path, (text, _) in VIOLATING.items()}))
    code, out = run(bad)
    expect(code == 1, f"a tree with forbidden includes should fail with exit 1 (exit {code})", out)
    expected = [line for _, lines in VIOLATING.values() for line in lines]
    for line in expected:
        expect(any(printed.startswith(line) for printed in out.splitlines()), f"missing violation: {line}", out)
    printed = [l for l in out.splitlines() if ": rule: " in l]
    expect(len(printed) == len(expected), f"expected {len(expected)} violations, printed {len(printed)}", out)
    expect(f"{len(expected)} forbidden includes" in out, "the summary should count them", out)
    expect(all(" — " in l for l in printed), "each violation should say why the rule exists", out)

with tempfile.TemporaryDirectory() as other:
    make_tree(other, CLEAN)
    rules = os.path.join(other, "rules.md")
    open(rules, "w").write("# no tables here\n")
    code, out = run(other, rules)
    expect(code == 2 and "Forbidden includes" in out, f"rules without the table are bad input (exit {code})", out)

for failure in failures:
    print("FAIL:", failure)
print(f"check_includes_test: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
