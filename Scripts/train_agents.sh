#!/usr/bin/env bash
# Train the plan, tool and reflect agents: the seed's loop over train_lora.py.
#
#   bash Scripts/train_agents.sh                      # the seed's settings (Llama-2-13B, HotpotQA, 5 epochs)
#   BASE_MODEL=/models/Llama-2-7b-chat-hf TAG=7b TASK=ScienceQA GPUS=0,1 bash Scripts/train_agents.sh
#
# The training hyper-parameters are the `train` section of a preset (autoact/configs/$PRESET.yaml,
# the seed's values for hotpotqa); the variables below choose the rest or override single values.
#   PRESET       preset whose train section is used       (hotpotqa)
#   BASE_MODEL   base model folder, hub id or alias       (llama-2-13b-chat)
#   TASK         task name, used in the output path       (HotpotQA)
#   DATA_DIR     folder with data_{plan,tool,reflect}.json (Self_Planning/Traj_Syn/output)
#   OUTPUT_ROOT  adapters go to $OUTPUT_ROOT/$TAG-<agent>-$EPOCHS-epoch (Self_Planning/Train/lora/$TASK)
#   TAG          size tag in the folder names              (13b)
#   GPUS         GPUs for deepspeed --include localhost:$GPUS (0); with DS_ACCELERATOR=cpu one CPU process
#   DS_CONFIG    DeepSpeed config                          (playground/deepspeed_config_s3.json)
#   LAUNCHER     deepspeed (default) or python (no DeepSpeed: one process, no --deepspeed)
#   EPOCHS FP16 MAX_LEN BATCH LR   override --num_train_epochs --fp16 --model_max_length
#                --per_device_train_batch_size --learning_rate (default: the preset's)
#   AGENTS       which agents                              ("plan tool reflect")
#   EXTRA_ARGS   more train_lora.py flags, e.g. "--lora_r 16"
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${PRESET:-hotpotqa}
BASE_MODEL=${BASE_MODEL:-llama-2-13b-chat}
TASK=${TASK:-HotpotQA}
DATA_DIR=${DATA_DIR:-Self_Planning/Traj_Syn/output}
OUTPUT_ROOT=${OUTPUT_ROOT:-Self_Planning/Train/lora/$TASK}
TAG=${TAG:-13b}
GPUS=${GPUS:-0}
DS_CONFIG=${DS_CONFIG:-playground/deepspeed_config_s3.json}
LAUNCHER=${LAUNCHER:-deepspeed}
AGENTS=${AGENTS:-plan tool reflect}
EXTRA_ARGS=${EXTRA_ARGS:-}

mapfile -t FLAGS < <(python -m autoact.pipeline --preset "$PRESET" --train_flags)
[ "${#FLAGS[@]}" -gt 0 ] || { echo "error: preset $PRESET has no train settings" >&2; exit 2; }
preset_value() {   # the preset's value of one flag
  local i
  for ((i = 0; i < ${#FLAGS[@]} - 1; i++)); do
    if [ "${FLAGS[$i]}" = "$1" ]; then echo "${FLAGS[$((i + 1))]}"; return; fi
  done
}
EPOCHS=${EPOCHS:-$(preset_value --num_train_epochs)}
OVERRIDES=(--num_train_epochs "$EPOCHS")
[ -n "${FP16:-}" ] && OVERRIDES+=(--fp16 "$FP16")
[ -n "${MAX_LEN:-}" ] && OVERRIDES+=(--model_max_length "$MAX_LEN")
[ -n "${BATCH:-}" ] && OVERRIDES+=(--per_device_train_batch_size "$BATCH")
[ -n "${LR:-}" ] && OVERRIDES+=(--learning_rate "$LR")

for agent in $AGENTS; do
  if [ "$LAUNCHER" = python ]; then
    launch=(python Self_Planning/Train/train_lora.py)
    ds=()
  elif [ "${DS_ACCELERATOR:-}" = cpu ]; then
    launch=(deepspeed --num_gpus 1 Self_Planning/Train/train_lora.py)
    ds=(--deepspeed "$DS_CONFIG")
  else
    launch=(deepspeed --include "localhost:$GPUS" Self_Planning/Train/train_lora.py)
    ds=(--deepspeed "$DS_CONFIG")
  fi
  echo "== training $agent on $DATA_DIR/data_$agent.json -> $OUTPUT_ROOT/$TAG-$agent-$EPOCHS-epoch"
  # shellcheck disable=SC2086
  "${launch[@]}" --model_name_or_path "$BASE_MODEL" "${FLAGS[@]}" "${OVERRIDES[@]}" \
    --data_path "$DATA_DIR/data_$agent.json" --output_dir "$OUTPUT_ROOT/$TAG-$agent-$EPOCHS-epoch" \
    "${ds[@]}" --resume_from_checkpoint False $EXTRA_ARGS
done
echo "adapters: $(for a in $AGENTS; do printf '%s ' "$OUTPUT_ROOT/$TAG-$a-$EPOCHS-epoch"; done)"
