#!/usr/bin/env bash
# Tests of the JavaScript package: builds both WebAssembly variants into js/dist, generates the
# fixtures (tools/make_js_fixtures.py), then runs tests/js under Node's test runner (TAP output,
# which scripts/test.sh counts). Figures go to $CLIP_FIGURES_FILE when set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-wasm.sh build-wasm
fixtures=${CLIP_FIXTURES:-build/fixtures/js}
case "$fixtures" in */js) ;; *) echo "test-js: CLIP_FIXTURES must end in /js" >&2; exit 1 ;; esac
.venv/bin/python tools/make_js_fixtures.py "$(dirname "$fixtures")"
CLIP_FIXTURES=$fixtures exec node --test --test-reporter=tap --test-concurrency=1 tests/js/
