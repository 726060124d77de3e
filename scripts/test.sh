#!/usr/bin/env bash
# Runs every test: native GoogleTest suites (parity against the Python references, kernels, bad
# input), the JavaScript package under Node's test runner (and in Chromium, Firefox and WebKit),
# the demo in Chromium and Firefox, the fuzzers and the sanitizer builds.
# Measured figures are printed at the end, then one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1

passed=0
failed=0
count() {  # count PASSED FAILED
  passed=$((passed + $1))
  failed=$((failed + $2))
}

native=build/native
figures=$native/figures.txt
echo "== native build"
cmake -S . -B "$native" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
cmake --build "$native" -j2 || exit 1
echo "== fixtures"
scripts/make-fixtures.sh "$native/fixtures" || exit 1
rm -f "$figures"

echo "== native tests"
log=$native/ctest.log
ctest --test-dir "$native" --output-on-failure 2>&1 | tee "$log"
total=$(grep -Eo 'out of [0-9]+' "$log" | grep -Eo '[0-9]+' || echo 0)
bad=$(grep -Eo '[0-9]+ tests failed' "$log" | grep -Eo '^[0-9]+' || echo 0)
count $((total - bad)) "$bad"

for stage in scripts/test-js.sh scripts/test-browser.sh scripts/test-fuzz.sh scripts/test-sanitizers.sh; do
  [ -x "$stage" ] || continue
  echo "== $stage"
  log=$(mktemp)
  CLIP_FIGURES_FILE=$PWD/$figures "$stage" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  pass=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  fail=$(grep -E '^# fail [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  [ "$status" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
  count "$pass" "$fail"
  rm -f "$log"
done

echo "== figures"
[ -f "$figures" ] && sort "$figures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
