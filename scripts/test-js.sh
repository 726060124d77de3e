#!/usr/bin/env bash
# Tests of the JavaScript package: builds both WebAssembly variants into js/dist, generates the
# fixtures (tools/make_js_fixtures.py), then runs tests/js under Node's test runner (TAP output,
# which scripts/test.sh counts). Figures go to $CLIP_FIGURES_FILE when set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-wasm.sh build-wasm
# CLIP_FIXTURES: the fixtures folder shared with the native tests; the JS ones live in its js/.
fixtures=${CLIP_FIXTURES:-build/native/fixtures}
.venv/bin/python tools/make_js_fixtures.py "$fixtures"
CLIP_FIXTURES=$fixtures/js exec node --test --test-reporter=tap --test-concurrency=1 tests/js/
