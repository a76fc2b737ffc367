#!/usr/bin/env bash
# Prints CONFIG with the layer hostile.scale, from $HOSTILE/hostile_FAULT.so, between the
# embedding and the first gpt.block: the model a case of tests/reliability/cases/plugins.cases
# checks or trains.   hostile_config.sh CONFIG FAULT > job.toml
set -euo pipefail
config=$1
fault=$2
plugin="${HOSTILE:?set HOSTILE to BUILD/tests/hostile-plugins}/hostile_${fault}.so"
if [[ ! -f $plugin ]]; then
  echo "hostile_config.sh: $plugin not found (build the target hostile_plugins)" >&2
  exit 1
fi
awk -v plugin="$plugin" '
  /^\[model\]$/ { print; print "plugin_paths = [\"" plugin "\"]"; next }
  /^component = "gpt.block"$/ && !done {
    print "component = \"hostile.scale\""; print "d_model = 256"; print "[[model.layer]]"; done = 1
  }
  { print }' "$config"
