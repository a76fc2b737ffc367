#!/usr/bin/env bash
# The README's first command: install what is missing, build, and train the default config
# (configs/local-cpu.toml: a tiny GPT as a 2-stage pipeline on this machine's CPU, under
# `mpirun -np 2`) on text every Debian system has — the licence texts in
# /usr/share/common-licenses — tokenised as bytes by `llmrt data prepare`.
# Extra arguments go to llmrt, e.g. `scripts/quickstart.sh --set train.steps=200` (which, after a
# first run, resumes from its checkpoint and trains on to step 200).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Only the llmrt program and its built-in plugins. The tests are scripts/test.sh's business: it
# turns them on itself, so this script leaves build/'s tests option as it finds it (it used to
# turn it off, and test.sh then found no tests).
BUILD_TARGET=llmrt scripts/build.sh

mkdir -p data
if [[ ! -f data/licenses_train.bin ]]; then
  cat /usr/share/common-licenses/* > data/licenses.txt
  build/llmrt data prepare data/licenses.txt data/licenses
fi
# Open MPI refuses root unless asked; --oversubscribe lets 2 ranks share a 1-core machine.
as_root=()
if [[ $(id -u) -eq 0 ]]; then as_root=(--allow-run-as-root); fi
# Validation on the held-out tenth and a sample every 25 steps; a checkpoint every 25 steps in
# ckpt/tiny-gpt, which the next run resumes from by itself (README: "Keep, watch, sample, export").
mpirun "${as_root[@]}" --oversubscribe -np 2 build/llmrt configs/local-cpu.toml \
  --set data.train=data/licenses_train.bin --set data.val=data/licenses_val.bin --set data.val_every=25 \
  --set checkpoint.dir=ckpt/tiny-gpt --set checkpoint.every=25 --set metrics.sample_every=25 "$@"
