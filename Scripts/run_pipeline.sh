#!/usr/bin/env bash
# The whole pipeline in one command (see `python -m autoact.pipeline --help`).
#   bash Scripts/run_pipeline.sh                                  # offline learning demo (the default)
#   bash Scripts/run_pipeline.sh --preset smoke                   # offline plumbing check, ~1 min
#   bash Scripts/run_pipeline.sh --preset hotpotqa --set model.base_model=/models/Llama-2-13b-chat-hf
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m autoact.pipeline "$@"
