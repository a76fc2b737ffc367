#!/bin/sh
# A CPU rank of a CUDA build never loads cuBLASLt (kernels/cuda/cublaslt_library.h): it costs
# ~150 MiB of resident memory per process. The dynamic loader's own log (LD_DEBUG=files) lists
# every library it maps, linked or dlopen'ed; a one-step CPU run must not list libcublasLt.
# Usage: cublaslt_not_loaded_test.sh LLMRT CONFIG
set -eu
llmrt=$1 config=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
if ! LD_DEBUG=files "$llmrt" run "$config" --set train.steps=1 > out.txt 2> loader.txt; then
  echo "FAIL: the run itself failed"; tail -20 out.txt loader.txt; exit 1
fi
grep -q "loss" out.txt || { echo "FAIL: no training step printed"; cat out.txt; exit 1; }
grep -q "file=libmpi" loader.txt || { echo "FAIL: LD_DEBUG logged no library loads (cannot judge)"; exit 1; }
if grep -i "file=.*cublasLt" loader.txt; then
  echo "FAIL: a CPU run loaded cuBLASLt"; exit 1
fi
echo "ok: a one-step CPU run of a CUDA build mapped no cuBLASLt"
