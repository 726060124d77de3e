#!/usr/bin/env bash
# Runs the native GoogleTest suites under AddressSanitizer + UndefinedBehaviorSanitizer (with
# LeakSanitizer) from a separate build, build/sanitize (-DCLIP_SANITIZE=ON). Any report fails
# the suite it came from. Prints one line per suite, then "SANITIZERS clean" or
# "SANITIZERS failures: ...", then "# pass N" / "# fail N" over the suites.
#
# Every case runs, the full-size ViT-B/32 ones included: under the sanitizers the parity suite
# takes about 20 s and the kernel suite (with its q8 fidelity case) 30 s on a 2-core machine.
#
#   scripts/test-sanitizers.sh
#   SANITIZE_TESTS="safetensors_test robustness_test" scripts/test-sanitizers.sh
set -uo pipefail
cd "$(dirname "$0")/.."

build=${SANITIZE_BUILD:-build/sanitize}
fixtures=${SANITIZE_FIXTURES:-build/native/fixtures}
scripts/make-fixtures.sh "$fixtures" || exit 1
fixtures=$(cd "$fixtures" && pwd)

tests=${SANITIZE_TESTS:-$(for f in tests/native/*_test.cpp; do basename "$f" .cpp; done)}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# -O2 with debug info: fast enough to run every suite, and reports name file and line.
if ! cmake -S . -B "$build" -G Ninja -DCLIP_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >"$log" 2>&1; then
  cat "$log"
  exit 1
fi
# shellcheck disable=SC2086 # one target per word
if ! cmake --build "$build" -j2 --target $tests >"$log" 2>&1; then
  tail -n 60 "$log"
  echo "SANITIZERS build failed"
  echo "# pass 0"
  echo "# fail 1"
  exit 1
fi

# Every report is fatal (the build also has -fno-sanitize-recover=all) and names its stack.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=report_objects=1

passed=0
failed=0
failures=()
for test in $tests; do
  start=$(date +%s)
  # Figures measured under the sanitizers mean nothing: none are recorded.
  env -u CLIP_FIGURES_FILE CLIP_FIXTURES="$fixtures" "$build/$test" >"$log" 2>&1
  status=$?
  seconds=$(($(date +%s) - start))
  ran=$(grep -Eo '^\[==========\] [0-9]+ tests? from [0-9]+ test suites? ran' "$log" |
    grep -Eo '[0-9]+' | head -1)
  if [ "$status" -eq 0 ] && ! grep -qE 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$log"; then
    echo "ok $test: ${ran:-0} tests, ${seconds}s"
    passed=$((passed + 1))
  else
    echo "FAILED $test (exit $status, ${seconds}s):"
    grep -E -B 2 -A 30 'runtime error:|Sanitizer|\[  FAILED  \]' "$log" | head -n 80
    failed=$((failed + 1))
    failures+=("$test")
  fi
done

if [ "$failed" -eq 0 ]; then
  echo "SANITIZERS clean"
else
  echo "SANITIZERS failures: ${failures[*]}"
fi
echo "# pass $passed"
echo "# fail $failed"
[ "$failed" -eq 0 ]
