#!/usr/bin/env bash
# The web demo end to end in headless Chromium and Firefox (tests/browser, Node's test runner): prepares what
# the tests need (the wasm build, the reference fixtures, the sample photos and their reference
# scores), then runs them. Screenshots land in test-artifacts/.
# usage: test-browser.sh   (CLIP_FIXTURES: fixtures folder, default build/native/fixtures;
#                          CLIP_WASM_BUILD_PREFIX: build folders of build-wasm.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export CLIP_FIXTURES=${CLIP_FIXTURES:-build/native/fixtures}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
quiet() {  # quiet COMMAND...: no output unless it fails
  if ! "$@" >"$log" 2>&1; then
    echo "test-browser: $* failed:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

scripts/setup.sh
# playwright-core and puppeteer-core (root package.json, installed by setup.sh) drive Debian's
# Chromium and Firefox ESR.
for driver in playwright-core puppeteer-core; do
  if [ ! -f node_modules/$driver/package.json ]; then
    echo "test-browser: node_modules/$driver is missing (npm ci installs it)" >&2
    exit 1
  fi
done
quiet scripts/build-wasm.sh "${CLIP_WASM_BUILD_PREFIX:-}"
scripts/make-fixtures.sh "$CLIP_FIXTURES"
quiet python3 tools/copy_sample_images.py
quiet .venv/bin/python tools/ref_demo_zero_shot.py "$CLIP_FIXTURES"

node --test tests/browser/
