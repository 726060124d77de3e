#!/usr/bin/env bash
# The web demo end to end in headless Chromium (tests/browser, Node's test runner): prepares what
# the tests need (Chromium and playwright-core, the wasm build, the reference fixtures, the sample
# photos and their reference scores), then runs them. Screenshots land in test-artifacts/.
# usage: test-browser.sh   (CLIP_FIXTURES: fixtures folder, default build/native/fixtures;
#                          CLIP_WASM_BUILD_PREFIX: build folders of build-wasm.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export CLIP_FIXTURES=${CLIP_FIXTURES:-build/native/fixtures}

scripts/setup.sh
# playwright-core drives Debian's Chromium; it normally comes from the root package.json.
if [ ! -f node_modules/playwright-core/package.json ]; then
  npm install --no-save --no-audit --no-fund --loglevel=error playwright-core@1.65.1
fi
scripts/build-wasm.sh "${CLIP_WASM_BUILD_PREFIX:-}" >/dev/null
scripts/make-fixtures.sh "$CLIP_FIXTURES"
python3 tools/copy_sample_images.py >/dev/null
.venv/bin/python tools/ref_demo_zero_shot.py "$CLIP_FIXTURES" >/dev/null

node --test tests/browser/
