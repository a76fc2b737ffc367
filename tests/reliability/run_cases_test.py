#!/usr/bin/env python3
"""The case runner itself: it passes a case that holds and fails each way a case can break."""
import subprocess
import sys
import tempfile
from pathlib import Path

RUNNER = Path(__file__).with_name("run_cases.py")
GOOD = """name: refused
cmd: $LLMRT check tiny.toml --set train.optimizer.lr=0
exit: 2
says: train.optimizer.lr
absent: runs
"""
BROKEN = {
    "wrong exit": "name: x\ncmd: $LLMRT check tiny.toml\nexit: 2\n",
    "missing text": "name: x\ncmd: $LLMRT check tiny.toml --set train.optimizer.lr=0\nexit: 2\nsays: no such words\n",
    "left behind": "name: x\nsetup: touch made\ncmd: $LLMRT check tiny.toml --set train.optimizer.lr=0\nexit: 2\nabsent: made\n",
    "crash text": "name: x\ncmd: echo 'terminate called after throwing'; exit 1\nexit: 1\n",
    "timeout": "name: x\ncmd: sleep 30\nexit: 0\ntimeout: 1\n",
    "signal": "name: x\ncmd: kill -SEGV $$\nexit: 0\n",
    "malformed": "name: x\nbogus line\n",
}


def run(llmrt, text):
    with tempfile.NamedTemporaryFile("w", suffix=".cases") as case_file:
        case_file.write(text)
        case_file.flush()
        result = subprocess.run([sys.executable, str(RUNNER), "--llmrt", llmrt, case_file.name],
                                capture_output=True, text=True, timeout=120)
        return result.returncode, result.stdout + result.stderr


def main():
    llmrt = sys.argv[sys.argv.index("--llmrt") + 1]
    failures = 0
    code, out = run(llmrt, GOOD + "\nname: by-signal\ncmd: kill -SEGV $$\nexit: SIGSEGV\n")
    if code != 0 or "2 cases, 0 failed" not in out:
        print(f"FAIL a holding case did not pass (exit {code}):\n{out}")
        failures += 1
    for what, text in BROKEN.items():
        code, out = run(llmrt, text)
        if code != 1 or "FAIL" not in out:
            print(f"FAIL the runner let a broken case through ({what}), exit {code}:\n{out}")
            failures += 1
        else:
            print(f"ok: the runner fails a case for: {what}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
