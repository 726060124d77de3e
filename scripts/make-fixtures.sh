#!/usr/bin/env bash
# Generates the test fixtures from the Python reference implementations, from fixed seeds.
# Skipped when the generators have not changed since the last run. usage: make-fixtures.sh OUTDIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: make-fixtures.sh OUTDIR}
mkdir -p "$out"
stamp=$(cat tools/*.py tools/requirements.txt | sha256sum | cut -c1-16)
[ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && exit 0

py=.venv/bin/python
run() {  # quiet unless it fails
  local log
  log=$(mktemp)
  if ! "$py" "$@" >"$log" 2>&1; then
    echo "make-fixtures: $* failed:" >&2
    tail -n 40 "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}
run tools/make_model_fixtures.py "$out" --full
for generator in tools/ref_tokenize.py tools/ref_preprocess.py tools/make_fuzz_seeds.py tools/make_js_fixtures.py; do
  [ -f "$generator" ] && run "$generator" "$out"
done
echo "$stamp" >"$out/.stamp"
