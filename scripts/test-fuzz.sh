#!/usr/bin/env bash
# Fuzzes the three parsers of untrusted input (safetensors, tokenizer files and text, images)
# with libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer, each for a bounded time on
# its seed corpus, and prints one line per target:
#   FUZZ safetensors execs=123456 crashes=0
# (also appended to $CLIP_FIGURES_FILE when set), then "# pass N" / "# fail N" over the targets.
# Exits non-zero when any target finds a crash (an escaped exception, a broken invariant, a
# memory error, undefined behaviour, a leak, a timeout or running out of memory).
#
#   scripts/test-fuzz.sh                      a fixed, seeded run of about 20 s per target: the
#                                             same inputs on every machine, so a pass here is a
#                                             pass in CI (new crashes are the longer run's job)
#   FUZZ_SECONDS=600 scripts/test-fuzz.sh     the longer run, 10 minutes per target, random seed,
#                                             corpus kept in build/fuzz/corpus between runs
#   FUZZ_TARGETS="image" scripts/test-fuzz.sh one target
#
# Found crashes are kept as build/fuzz/artifacts/TARGET-crash-*; reproduce one with
#   build/fuzz/TARGET_fuzz build/fuzz/artifacts/TARGET-crash-...
# Inputs the fuzzer found interesting accumulate in build/fuzz/corpus/TARGET and seed later runs.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-}
targets=${FUZZ_TARGETS:-"safetensors tokenizer image"}
out=${FUZZ_BUILD:-build/fuzz}
# The fixtures of the test command: the real vocabulary (tokenizer target) and the seeds.
fixtures=${FUZZ_FIXTURES:-build/native/fixtures}
cxx=${FUZZ_CXX:-clang++}

mkdir -p "$out/artifacts" "$out/logs"
scripts/make-fixtures.sh "$fixtures" || exit 1

# The header-only libraries through a folder of links, as CMake's third-party-include does:
# never the whole of /usr/include.
include=$out/third-party-include
mkdir -p "$include"
for dir in stb nlohmann simde; do ln -sfn "/usr/include/$dir" "$include/$dir"; done

# Same language and warning settings as the CMake build; -O1 -g as libFuzzer advises.
# -fno-sanitize-recover makes every UBSan report fatal, so it counts as a crash.
flags=(-std=c++17 -g -O1 -march=native -ffp-contract=off -DSIMDE_ENABLE_NATIVE_ALIASES
  -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  -Isrc -isystem "$include")

# Inputs per target in the default run: about 20 s each on a 2-core machine.
runs_of() {
  case $1 in
    safetensors) echo 150000 ;;
    tokenizer) echo 12000 ;;
    image) echo 25000 ;;
  esac
}

sources_of() {
  case $1 in
    safetensors) echo src/safetensors.cpp src/json-reader.cpp ;;
    tokenizer) echo src/tokenizer.cpp src/tokenizer-text.cpp src/json-reader.cpp ;;
    image) echo src/image.cpp src/image-resize.cpp ;;
  esac
}

# Larger inputs only slow the image target down; its seeds are all below this.
max_len_of() {
  case $1 in
    image) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

passed=0
failed=0
for target in $targets; do
  binary=$out/${target}_fuzz
  log=$out/logs/$target.log
  # Rebuilt when any source or header is newer than the binary.
  fresh=$([ -x "$binary" ] && find "tests/fuzz/${target}_fuzz.cpp" src -newer "$binary" -print -quit)
  # shellcheck disable=SC2046 # the source list is meant to split
  if [ -z "$fresh" ] && [ -x "$binary" ]; then
    :
  elif ! "$cxx" "${flags[@]}" "tests/fuzz/${target}_fuzz.cpp" $(sources_of "$target") \
    -o "$binary" >"$log" 2>&1; then
    echo "FUZZ $target build failed:"
    tail -n 30 "$log"
    failed=$((failed + 1))
    continue
  fi
  if [ -n "$seconds" ]; then
    corpus=$out/corpus/$target
    budget=(-max_total_time="$seconds")
  else
    corpus=$(mktemp -d)  # the seeds alone, and a fixed seed: a reproducible run
    budget=(-seed=1 -runs="$(runs_of "$target")" -max_total_time=300)
  fi
  mkdir -p "$corpus"
  # Reports of ASan/UBSan/LeakSanitizer end the process with a non-zero status; libFuzzer also
  # treats a 10 s input as a hang and 2 GB of RSS as running out of memory.
  CLIP_FIXTURES=$fixtures "$binary" "${budget[@]}" -print_final_stats=1 \
    -max_len="$(max_len_of "$target")" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/artifacts/$target-" \
    "$corpus" "$fixtures/fuzz/$target" >"$log" 2>&1
  status=$?
  [ -z "$seconds" ] && rm -rf "$corpus"
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
  # libFuzzer stops at the first failure and saves the input: one artifact per crash.
  crashes=$(grep -c 'Test unit written to' "$log")
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  if [ -z "$execs" ]; then  # no final stats: the run died before it could print them
    execs=0
    [ "$crashes" -eq 0 ] && crashes=1
  fi
  line="FUZZ $target execs=$execs crashes=$crashes"
  echo "$line"
  [ -n "${CLIP_FIGURES_FILE:-}" ] && echo "$line" >>"$CLIP_FIGURES_FILE"
  if [ "$crashes" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "--- $target: the fuzzer's report ($log)"
    grep -E -A 25 'ERROR|runtime error|deadly signal|Test unit written' "$log" | head -n 60
  fi
done

echo "# pass $passed"
echo "# fail $failed"
[ "$failed" -eq 0 ]
