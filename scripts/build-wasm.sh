#!/usr/bin/env bash
# Builds both WebAssembly variants with Debian's Emscripten and copies them into js/dist/:
#   build-wasm-threads -> clip-wasm-threads.{mjs,wasm,worker.js}   (SIMD128 + pthreads)
#   build-wasm-simd    -> clip-wasm-simd.{mjs,wasm}                (SIMD128, one thread)
# Fails if a .wasm is over the size budget. usage: build-wasm.sh [BUILD_DIR_PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-build-wasm}
max_wasm_bytes=$((1536 * 1024)) # 1.5 MB per module, uncompressed
# Debian's emcc runs its JS tools with the machine's Node, which does not search Debian's own
# module folder (acorn, terser) by itself.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}

mkdir -p js/dist
for variant in threads simd; do
  dir=$prefix-$variant
  threads=$([ "$variant" = threads ] && echo ON || echo OFF)
  emcmake cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCLIP_WASM_THREADS=$threads >/dev/null
  cmake --build "$dir" -j2 --target "clip-wasm-$variant"
  for file in "$dir"/wasm/clip-wasm-$variant.{mjs,wasm} "$dir"/wasm/clip-wasm-$variant.worker.js; do
    [ -f "$file" ] && cp "$file" js/dist/
  done
  size=$(stat -c %s "js/dist/clip-wasm-$variant.wasm")
  echo "clip-wasm-$variant.wasm: $size bytes"
  if [ "$size" -gt "$max_wasm_bytes" ]; then
    echo "build-wasm: clip-wasm-$variant.wasm is $size bytes, over the $max_wasm_bytes byte budget" >&2
    exit 1
  fi
done
