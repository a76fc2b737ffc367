#!/usr/bin/env python3
"""Runs the bad-input cases of tests/reliability/cases/*.cases against an llmrt binary.

A case file holds blocks separated by blank lines ('#' starts a comment line):

    name: lr-zero                     unique within the file
    why: lr = 0 passes though ...     optional: what the case reproduces
    skip-unless: command -v mpirun    optional bash test; the case skips visibly when it fails
    setup: mkfifo fifo                optional, may repeat: bash, run first in the case's temp dir
    cmd: $LLMRT check tiny.toml ...   the command under test (bash, in the temp dir)
    exit: 2                           the expected exit code, or a signal name (SIGSEGV)
    says: expected a positive ...     optional, may repeat: text the output must contain
    absent: runs/tiny-gpt/metrics.jsonl   optional, may repeat: must not exist afterwards
    timeout: 60                       optional, seconds; running past it fails the case

Every case also fails when its output shows an uncaught exception or a crash the case did not
expect ("terminate called", "Segmentation fault", "core dumped").

The temp dir holds tiny.toml (the shipped default made quick: one CPU rank, pp 1, 3 steps, a
line per step) and local-cpu.toml (the default as shipped). The command sees $LLMRT, $REPO,
$CONFIGS, $MPIRUN and $HOSTILE (the build's hostile test plugins).

  run_cases.py --llmrt BIN [--hostile DIR] [--only NAME] FILE...   run, exit 1 on any failure
  run_cases.py --llmrt BIN --table FILE...                         a markdown table of the cases
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIELDS = {"name", "why", "skip-unless", "setup", "cmd", "exit", "says", "absent", "timeout"}
REPEATED = {"setup", "says", "absent"}
CRASH_MARKS = ("terminate called", "Segmentation fault", "core dumped")
# (pattern, replacement) that turn configs/local-cpu.toml into the quick tiny.toml.
TINY_EDITS = [
    (r"cpus = \{ ranks = 2,", "cpus = { ranks = 1,"),
    (r"\npp = 2\n", "\npp = 1\n"),
    (r"\nsteps = 50\n", "\nsteps = 3\n"),
    (r"\nlog_every = 5\n", "\nlog_every = 1\n"),
]


class CaseFileError(Exception):
    pass


def parse_cases(path):
    """The blocks of one case file, as dicts; a malformed file is an error naming its line."""
    cases, block, names = [], {}, set()

    def finish(line_no):
        if not block:
            return
        for key in ("name", "cmd", "exit"):
            if key not in block:
                raise CaseFileError(f"{path}:{line_no}: case {block.get('name', '?')!r} lacks '{key}:'")
        if block["name"] in names:
            raise CaseFileError(f"{path}:{line_no}: case name {block['name']!r} used twice")
        names.add(block["name"])
        cases.append(dict(block))
        block.clear()

    lines = Path(path).read_text().splitlines()
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            finish(line_no)
            continue
        if line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in FIELDS:
            raise CaseFileError(f"{path}:{line_no}: expected 'FIELD: value' with FIELD one of "
                                f"{', '.join(sorted(FIELDS))}, found {line!r}")
        value = value.strip()
        if key in REPEATED:
            block.setdefault(key, []).append(value)
        elif key in block:
            raise CaseFileError(f"{path}:{line_no}: '{key}:' given twice in case {block.get('name')!r}")
        else:
            block[key] = value
    finish(len(lines) + 1)
    return cases


def expected_codes(text):
    """The return codes that mean the expected exit: a number, or death by a named signal
    (Python sees -N for a direct child; bash reports 128 + N for one it ran)."""
    if text.upper().startswith("SIG"):
        number = int(getattr(signal, text.upper()))
        return {-number, 128 + number}
    return {int(text)}


def prepare_dir(workdir):
    default = (REPO / "configs" / "local-cpu.toml").read_text()
    tiny = default
    for pattern, replacement in TINY_EDITS:
        tiny, count = re.subn(pattern, replacement, tiny)
        if count != 1:
            raise CaseFileError(f"configs/local-cpu.toml changed: {pattern!r} matched {count} times")
    (workdir / "local-cpu.toml").write_text(default)
    (workdir / "tiny.toml").write_text(tiny)


def case_env(args):
    env = dict(os.environ)
    env.update({
        "LLMRT": str(Path(args.llmrt).resolve()),
        "REPO": str(REPO),
        "CONFIGS": str(REPO / "configs"),
        "HOSTILE": str(Path(args.hostile).resolve()) if args.hostile else "",
        "MPIRUN": "mpirun --oversubscribe --allow-run-as-root",
        "OMPI_ALLOW_RUN_AS_ROOT": "1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "OMPI_MCA_rmaps_base_oversubscribe": "1",
    })
    return env


def run_bash(command, workdir, env, timeout):
    """(return code or None on timeout, stdout, stderr); the whole process group dies on timeout."""
    process = subprocess.Popen(["bash", "-c", command], cwd=workdir, env=env, text=True,
                               errors="replace", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return None, out, err


def first_line(out, err):
    for text in (err, out):
        for line in text.splitlines():
            if line.strip():
                return line.strip()
    return ""


def run_case(case, args):
    """(verdict 'PASS'|'FAIL'|'SKIP', reason, return code, first output line, seconds)."""
    env = case_env(args)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="llmrt-case-") as tmp:
        try:
            return run_case_in(case, args, env, started, Path(tmp))
        finally:
            unmount_under(Path(tmp))


def unmount_under(workdir):
    """A case that timed out before its own `umount` leaves its tmpfs mounted, and the folder's
    removal then fails (EBUSY) and ends the whole file: lazily unmount what is left, deepest first."""
    try:
        with open("/proc/self/mounts") as mounts:
            points = [line.split()[1] for line in mounts]
    except OSError:
        return
    root = str(workdir.resolve())
    for point in sorted((p for p in points if p == root or p.startswith(root + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def run_case_in(case, args, env, started, workdir):
    prepare_dir(workdir)
    if "skip-unless" in case:
        code, _, _ = run_bash(case["skip-unless"], workdir, env, 30)
        if code != 0:
            return "SKIP", f"needs: {case['skip-unless']}", None, "", 0.0
    for step in case.get("setup", []):
        code, out, err = run_bash(step, workdir, env, 120)
        if code != 0:
            return "FAIL", f"setup {step!r} exited {code}: {(err or out).strip()[:300]}", code, "", 0.0
    code, out, err = run_bash(case["cmd"], workdir, env, float(case.get("timeout", 60)))
    seconds = time.monotonic() - started
    output = out + err
    line = first_line(out, err)
    problems = []
    if code is None:
        problems.append(f"still running after {case.get('timeout', 60)} s")
    elif code not in expected_codes(case["exit"]):
        problems.append(f"exit {code}, expected {case['exit']}")
    for text in case.get("says", []):
        if text not in output:
            problems.append(f"output lacks {text!r}")
    expects_signal = case["exit"].upper().startswith("SIG")
    for mark in CRASH_MARKS:
        if mark in output and not expects_signal:
            problems.append(f"output shows {mark!r}")
    for path in case.get("absent", []):
        if (workdir / path).exists():
            problems.append(f"{path} was left behind")
    if problems:
        excerpt = "\n    ".join(output.strip().splitlines()[-12:])
        return "FAIL", "; ".join(problems) + f"\n    output:\n    {excerpt}", code, line, seconds
    return "PASS", "", code, line, seconds


def table_cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llmrt", required=True)
    parser.add_argument("--hostile", default="")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--table", action="store_true")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    if shutil.which("bash") is None:
        print("SKIP: bash not found")
        return 77
    failures, rows = 0, []
    for path in args.files:
        try:
            cases = parse_cases(path)
        except (CaseFileError, OSError) as error:
            print(f"FAIL {error}")
            return 1
        for case in cases:
            if args.only and case["name"] not in args.only:
                continue
            verdict, reason, code, line, seconds = run_case(case, args)
            failures += verdict == "FAIL"
            print(f"{verdict} {Path(path).stem}/{case['name']} ({seconds:.1f} s){': ' + reason if reason else ''}",
                  flush=True)
            shown_code = "skipped" if verdict == "SKIP" else ("timeout" if code is None else str(code))
            rows.append((Path(path).stem, case, shown_code, line, verdict))
    if args.table:
        print("\n| area | case | command | exit | first line of output | verdict |")
        print("|---|---|---|---|---|---|")
        for area, case, code, line, verdict in rows:
            print(f"| {area} | {case['name']} | `{table_cell(case['cmd'])}` | {code} | {table_cell(line)} | {verdict} |")
    print(f"{len(rows)} cases, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
