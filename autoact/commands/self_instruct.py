"""Self-Instruct: the Meta-Agent writes new question-answer pairs from the seed examples.

    python Self_Instruct/data_generation.py --source_data Self_Instruct/Meta_sample/Meta_Hotpotqa.json \\
        --target_data Self_Instruct/hotpotqa_metaqa.json --dataset_name hotpotqa --generate_all_num 800 \\
        --generate_per_round_num 10 --model_name llama-2-13b-chat

Writes exactly --generate_all_num pairs to --target_data (a JSON list with the seed file's keys:
HotpotQA {"Question", "Answer"}; ScienceQA {"Question" with its Options line, "caption", "orc",
"Answer": "A. text"}), atomically after every round. Progress is kept in
<target>.progress.jsonl: rerun the same command after a crash or Ctrl-C and it continues where it
stopped, without duplicates. The resolved settings and a summary go to <target>.config.json.
The model comes from an OpenAI-compatible server (--base_url / $OPENAI_BASE_URL) or a local model
(--backend hf --model_path DIR); the chat API is used, as the reference did, and the config
records the decoding actually sent.
"""

from __future__ import annotations

import argparse

from autoact.settings import build_parser, from_args
from autoact.stages.self_instruct import Settings, run


def make_parser() -> argparse.ArgumentParser:
    return build_parser(Settings, __doc__)


def main(args: argparse.Namespace) -> None:
    run(from_args(Settings, args))
