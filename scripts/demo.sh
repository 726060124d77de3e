#!/usr/bin/env bash
# Sets everything up and serves the web demo: packages, the wasm build, OpenAI's CLIP ViT-B/32 in
# models/ (when scripts/fetch-real-model.sh can get it; otherwise the page offers the Hugging Face
# hub copy), the sample photos; then web-demo/server.mjs on 127.0.0.1 prints the URL to open.
# usage: demo.sh [--port N] [--no-isolation] [--models DIR]   (arguments go to the server;
#        CLIP_WASM_BUILD_PREFIX: build folders of build-wasm.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
quiet() {  # quiet COMMAND...: no output unless it fails
  if ! "$@" >"$log" 2>&1; then
    echo "demo: $* failed:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

scripts/setup.sh
echo "demo: building the WebAssembly module"
quiet scripts/build-wasm.sh "${CLIP_WASM_BUILD_PREFIX:-}"
quiet python3 tools/copy_sample_images.py

if [ -x scripts/fetch-real-model.sh ]; then
  echo "demo: looking for OpenAI's CLIP ViT-B/32 weights"
  rc=0
  scripts/fetch-real-model.sh || rc=$?
  if [ "$rc" -eq 3 ]; then
    echo "demo: no real weights here (see scripts/fetch-real-model.sh); the page will offer the Hugging Face hub copy"
  elif [ "$rc" -ne 0 ]; then
    echo "demo: fetch-real-model.sh failed (exit $rc); the page will offer the Hugging Face hub copy" >&2
  fi
else
  echo "demo: scripts/fetch-real-model.sh is not there; the page will offer the Hugging Face hub copy"
fi

rm -f "$log"
trap - EXIT
exec node web-demo/server.mjs "$@"
