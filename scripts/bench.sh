#!/usr/bin/env bash
# Speed comparison of the wasm module with onnxruntime-web (wasm) and onnxruntime-node (native) on
# the same ViT-B/32-shaped weights (random values: speed does not depend on them). Prepares what
# is missing, then runs bench/node/bench.mjs; arguments go to it (e.g. --quick, --threads 1).
# Not part of the test command. Results: build/bench/results.json and a printed table.
# usage: scripts/bench.sh [bench.mjs options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

out=build/bench
fixtures=build/native/fixtures
model=$fixtures/models/vit-b-32-hf
mkdir -p "$out"

echo "== wasm builds (js/dist)"
scripts/build-wasm.sh

if [ ! -f "$model/model.safetensors" ]; then
  echo "== ViT-B/32 fixture ($model)"
  .venv/bin/python tools/make_model_fixtures.py "$fixtures" --full
fi

# Our load() takes a directory: the fixture's weights and config plus OpenAI's BPE merges.
mkdir -p "$out/model"
for f in model.safetensors config.json reference.safetensors; do ln -sfr "$model/$f" "$out/model/$f"; done
cp -u .cache/bpe_simple_vocab_16e6.txt.gz "$out/model/"

echo "== ONNX exports ($out/onnx)"
# onnxruntime's quantizer needs onnx >= 1.13; Debian's is 1.12. This copy is only on the
# exporter's PYTHONPATH (--no-deps: numpy and protobuf stay the venv's).
if [ ! -f "$out/pydeps/onnx/__init__.py" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --target "$out/pydeps" onnx==1.17.0
fi
if ! PYTHONPATH=$PWD/$out/pydeps .venv/bin/python tools/export_onnx.py "$model" "$out/onnx" >"$out/export.log" 2>&1; then
  tail -n 40 "$out/export.log" >&2
  exit 1
fi
grep -e '^export_onnx' -e 'cosine to PyTorch' "$out/export.log" || true

echo "== SIMD128 peak probe ($out/wasm-probe)"
probe=$out/wasm-probe/probe.js
if [ ! -f "$probe" ] || [ -n "$(find src bench/wasm-probe bench/peak-probe.h -newer "$probe" -name '*.[ch]*' | head -1)" ]; then
  # Built from the working tree's kernels; the benchmark runs without it if it does not build.
  bench/wasm-probe/run.sh "$out/wasm-probe" >/dev/null || rm -f "$probe"
fi

echo "== benchmark (load average:$(uptime | sed 's/.*load average://'))"
node bench/node/bench.mjs --out "$out/results.json" "$@"
