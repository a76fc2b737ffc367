#!/usr/bin/env bash
# Installs what llmrt needs from Debian 12 packages, and only what is missing (idempotent).
#   scripts/install-deps.sh          build and run
#   scripts/install-deps.sh --test   also what the tests need (python3-torch, the reference;
#                                    clang and libFuzzer for scripts/fuzz.sh)
set -euo pipefail

packages=(cmake ninja-build ccache g++ make pkg-config
  libtomlplusplus-dev libfmt-dev libopenmpi-dev openmpi-bin libboost-test-dev
  libopenblas-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev zlib1g-dev)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3 python3-torch python3-venv prometheus clang libclang-rt-14-dev)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: everything is installed"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
