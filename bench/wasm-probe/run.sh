#!/usr/bin/env bash
# Builds the wasm speed probe (SIMD128 + pthreads, the same kernel sources as the library) and
# runs it under Node. usage: bench/wasm-probe/run.sh [OUTDIR]   (default build-wasm-probe)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-wasm-probe}
mkdir -p "$out"
# Debian's emscripten needs Node to find Debian's JS modules (acorn) at -O2 and above.
NODE_PATH=/usr/share/nodejs em++ -std=c++17 -O3 -msimd128 -pthread -fwasm-exceptions \
  -sPTHREAD_POOL_SIZE=2 -sEXIT_RUNTIME=1 -sINITIAL_MEMORY=256MB -sENVIRONMENT=node,worker \
  -Isrc bench/wasm-probe/probe.cpp src/ops.cpp src/thread-pool.cpp src/kernels/*.cpp \
  -o "$out/probe.js"
# Emscripten 3.1.6 calls fetch() on a file path under Node 18+: keep it on the fs path.
node --no-experimental-fetch "$out/probe.js"
