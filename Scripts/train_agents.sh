#!/usr/bin/env bash
# Train the plan, tool and reflect agents: the seed's loop over train_lora.py.
#
#   bash Scripts/train_agents.sh                      # the seed's settings (Llama-2-13B, HotpotQA, 5 epochs)
#   BASE_MODEL=/models/Llama-2-7b-chat-hf TAG=7b TASK=ScienceQA GPUS=0,1 bash Scripts/train_agents.sh
#
# Settings (environment variables, the seed's values by default):
#   BASE_MODEL   base model folder, hub id or alias       (llama-2-13b-chat)
#   TASK         task name, used in the output path       (HotpotQA)
#   DATA_DIR     folder with data_{plan,tool,reflect}.json (Self_Planning/Traj_Syn/output)
#   OUTPUT_ROOT  adapters go to $OUTPUT_ROOT/$TAG-<agent>-$EPOCHS-epoch (Self_Planning/Train/lora/$TASK)
#   TAG          size tag in the folder names              (13b)
#   EPOCHS       training epochs                           (5)
#   GPUS         GPUs for deepspeed --include localhost:$GPUS (0); with DS_ACCELERATOR=cpu one CPU process
#   DS_CONFIG    DeepSpeed config                          (playground/deepspeed_config_s3.json)
#   LAUNCHER     deepspeed (default) or python (no DeepSpeed: one process, no --deepspeed)
#   FP16 MAX_LEN BATCH LR      --fp16 (True) --model_max_length (4096) batch size (2) learning rate (1e-4)
#   AGENTS       which agents                              ("plan tool reflect")
#   EXTRA_ARGS   more train_lora.py flags, e.g. "--lora_r 16"
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_MODEL=${BASE_MODEL:-llama-2-13b-chat}
TASK=${TASK:-HotpotQA}
DATA_DIR=${DATA_DIR:-Self_Planning/Traj_Syn/output}
OUTPUT_ROOT=${OUTPUT_ROOT:-Self_Planning/Train/lora/$TASK}
TAG=${TAG:-13b}
EPOCHS=${EPOCHS:-5}
GPUS=${GPUS:-0}
DS_CONFIG=${DS_CONFIG:-playground/deepspeed_config_s3.json}
LAUNCHER=${LAUNCHER:-deepspeed}
FP16=${FP16:-True}
MAX_LEN=${MAX_LEN:-4096}
BATCH=${BATCH:-2}
LR=${LR:-1e-4}
AGENTS=${AGENTS:-plan tool reflect}
EXTRA_ARGS=${EXTRA_ARGS:-}

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
  "${launch[@]}" --model_name_or_path "$BASE_MODEL" --lora_r 8 --lora_alpha 16 \
    --lora_dropout 0.05 --data_path "$DATA_DIR/data_$agent.json" \
    --output_dir "$OUTPUT_ROOT/$TAG-$agent-$EPOCHS-epoch" --num_train_epochs "$EPOCHS" \
    --per_device_train_batch_size "$BATCH" --per_device_eval_batch_size 1 --gradient_accumulation_steps 1 \
    --evaluation_strategy "no" --save_strategy "steps" --save_steps 10000 --save_total_limit 1 \
    --learning_rate "$LR" --weight_decay 0. --warmup_ratio 0.03 --lr_scheduler_type "cosine" --logging_steps 1 \
    --fp16 "$FP16" --model_max_length "$MAX_LEN" --gradient_checkpointing True --q_lora False \
    "${ds[@]}" --resume_from_checkpoint False $EXTRA_ARGS
done
echo "adapters: $(for a in $AGENTS; do printf '%s ' "$OUTPUT_ROOT/$TAG-$a-$EPOCHS-epoch"; done)"
