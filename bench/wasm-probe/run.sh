#!/usr/bin/env bash
# Builds a wasm speed probe (SIMD128 + pthreads, the same kernel sources as the library) and runs
# it under Node. usage: bench/wasm-probe/run.sh [OUTDIR] [probe|tower]   (default
# build-wasm-probe, probe)
#   probe  the SIMD128 mul+add peak, clip::Linear GEMMs and the f32 microkernels alone (probe.cpp;
#          scripts/bench.sh runs it)
#   tower  a ViT-B/32 image and text transformer stack timed operator by operator, with weights
#          cold (12 layers of their own) and hot (one layer 12 times) (tower.cpp)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-wasm-probe}
program=${2:-probe}
case "$program" in
  probe) sources="bench/wasm-probe/probe.cpp src/ops.cpp src/thread-pool.cpp" ;;
  tower) sources="bench/wasm-probe/tower.cpp src/ops.cpp src/thread-pool.cpp" ;;
  *) echo "usage: $0 [OUTDIR] [probe|tower]" >&2; exit 2 ;;
esac
mkdir -p "$out"
# Debian's emscripten needs Node to find Debian's JS modules (acorn) at -O2 and above.
# shellcheck disable=SC2086
# -mrelaxed-simd: the relaxed-SIMD GEMM kernels get their fused multiply-add (clang 14 emits it
# only from that builtin), written as the standard opcode: this program runs only under Node.
NODE_PATH=/usr/share/nodejs em++ -std=c++17 -O3 -msimd128 -mrelaxed-simd -pthread -fwasm-exceptions \
  -sPTHREAD_POOL_SIZE=2 -sEXIT_RUNTIME=1 -sINITIAL_MEMORY=512MB -sENVIRONMENT=node,worker \
  -Isrc $sources src/kernels/*.cpp -o "$out/$program.js"
python3 tools/wasm-relaxed-opcodes.py --standard "$out/$program.wasm" >/dev/null
# Emscripten 3.1.6 calls fetch() on a file path under Node 18+: keep it on the fs path.
node --no-experimental-fetch --experimental-wasm-relaxed-simd "$out/$program.js"
