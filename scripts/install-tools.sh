#!/usr/bin/env bash
# The Python tools some tests read llmrt's outputs back with — TensorBoard's event reader,
# Hugging Face transformers and safetensors, prometheus_client — in .venv-tools/ (a venv that
# also sees Debian's python3-torch). Best effort: without the network the venv stays as it is
# and the tests that need a missing tool skip visibly. Tests find it through tests/support.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=.venv-tools
# transformers 4.46 is the last line that runs on the Debian 12 python3-torch (1.13).
tools=(tensorboard transformers safetensors prometheus_client)
requirements=(tensorboard "transformers>=4.40,<4.47" safetensors prometheus-client)
if [[ ! -x "$venv/bin/python" ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv" || { echo "install-tools: cannot create $venv (python3-venv?)"; exit 0; }
fi
missing=()
for tool in "${tools[@]}"; do
  "$venv/bin/python" -c "import $tool" 2>/dev/null || missing+=("$tool")
done
# transformers must also see torch (a newer transformers disables it)
if [[ " ${missing[*]} " != *" transformers "* ]] &&
  ! "$venv/bin/python" -c "import transformers, sys; sys.exit(0 if transformers.is_torch_available() else 1)" 2>/dev/null; then
  missing+=(transformers)
fi
wanted=()
for i in "${!tools[@]}"; do
  [[ " ${missing[*]} " == *" ${tools[$i]} "* ]] && wanted+=("${requirements[$i]}")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-tools: ${tools[*]} are installed in $venv"
  exit 0
fi
echo "install-tools: installing ${missing[*]} into $venv"
if ! timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check "${wanted[@]}"; then
  echo "install-tools: pip could not install ${missing[*]}; the tests that read outputs with them will skip"
fi
exit 0
