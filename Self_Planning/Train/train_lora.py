"""LoRA-train one agent (plan, tool or reflect) on its data file; runs under `python` or `deepspeed`.

    deepspeed Self_Planning/Train/train_lora.py --model_name_or_path llama-2-13b-chat \
        --data_path Self_Planning/Traj_Syn/output/data_plan.json \
        --output_dir Self_Planning/Train/lora/HotpotQA/13b-plan-5-epoch \
        --deepspeed playground/deepspeed_config_s3.json <the paper's flags>

The paper's values of the other flags (LoRA rank, epochs, learning rate, schedule, ...) are the
`train` section of autoact/configs/hotpotqa.yaml; `python -m autoact.pipeline --preset hotpotqa
--train_flags` prints them, and Scripts/train_agents.sh passes them for each agent.

Flags are those of transformers' TrainingArguments plus the model, data and LoRA ones below
(--help lists all). Seed spellings that transformers 5 renamed are mapped with a notice. The
adapter (adapter_config.json + weights) is saved in --output_dir with autoact_train.json (the
resolved settings, the data's sha256, token counts, losses and the pad share per epoch).
On a CPU-only machine: DS_ACCELERATOR=cpu deepspeed --num_gpus 1 ... with --fp16 False
(--fp16 True falls back to float32 with a notice). AUTOACT_DEBUG=1 shows full tracebacks.
"""

import sys

from autoact.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
