#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine, from package registries only.
# Idempotent and quiet: each step is skipped when already done; output is shown only on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() {  # step NAME COMMAND...: run quietly, print the log if it fails
  local name=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "setup: $name failed:" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- Debian packages ----
apt_packages=(
  cmake ninja-build g++ clang clang-format libclang-rt-14-dev
  emscripten
  libstb-dev nlohmann-json3-dev libsimde-dev zlib1g-dev
  libgtest-dev libbenchmark-dev libxnnpack-dev libpthreadpool-dev
  python3-venv python3-torch python3-torchvision python3-pil python3-numpy python3-skimage python3-onnx
  firefox-esr webkit2gtk-driver xvfb
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ! command -v chromium >/dev/null; then missing+=(chromium); fi
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get update" as_root apt-get update -qq
  step "apt-get install ${missing[*]}" as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---- Python reference tools (.venv over Debian's torch) ----
req_hash=$(sha256sum tools/requirements.txt | cut -c1-16)
if [ "$(cat .venv/.requirements 2>/dev/null)" != "$req_hash" ]; then
  [ -x .venv/bin/python ] || step "python venv" /usr/bin/python3 -m venv --system-site-packages .venv
  step "pip install" .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements.txt
  # OpenAI's own CLIP package: its tokenizer is the reference, and it ships the BPE merges.
  # --no-deps: torch and torchvision come from Debian.
  step "pip install openai-clip" .venv/bin/pip install -q --disable-pip-version-check --no-deps openai-clip==1.0.1
  echo "$req_hash" >.venv/.requirements
fi

# ---- Tokenizer data: OpenAI's BPE merges, taken from the openai-clip package ----
mkdir -p .cache
if [ ! -s .cache/bpe_simple_vocab_16e6.txt.gz ]; then
  step "copy BPE merges" .venv/bin/python -c "
import clip, os, shutil
src = os.path.join(os.path.dirname(clip.__file__), 'bpe_simple_vocab_16e6.txt.gz')
shutil.copy(src, '.cache/bpe_simple_vocab_16e6.txt.gz')"
fi

# ---- JavaScript dev dependencies, from the lockfile ----
if [ -f package-lock.json ]; then
  lock_hash=$(sha256sum package-lock.json | cut -c1-16)
  if [ "$(cat node_modules/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
    step "npm ci" npm ci --no-audit --no-fund --loglevel=error
    echo "$lock_hash" >node_modules/.lock-hash
  fi
fi
