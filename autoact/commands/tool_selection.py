"""Tool selection: the Meta-Agent picks the tools a task needs from the tool pool.

    python Self_Planning/Tool_Selection/tool_selected.py --model_name llama-2-13b-chat \\
        --task_name ScienceQA --top_k 40 --top_p 0.75 --max_tokens 1024 \\
        --tool_save_path Self_Planning/Tool_Selection/{task_name}_Tools.json

Writes ``[{"name", "definition", "usage"}, ...]`` (``{task_name}`` in the path is replaced by the
task's name) atomically, plus the resolved settings, the decoding actually sent and the model's
raw reply in ``<output>.config.json``. An existing selection is kept (pass --overwrite to choose
again). Trajectory synthesis and evaluation read the default path of the seed command
(Self_Planning/Tool_Selection/{Task}_Tools.json) when they get no --tools, and show each tool's
``usage`` text from the file.
The model comes from an OpenAI-compatible server (--base_url / $OPENAI_BASE_URL) or a local
model (--backend hf --model_path DIR).
"""

from __future__ import annotations

import argparse

from autoact.settings import build_parser, from_args
from autoact.stages.tool_selection import Settings, run


def make_parser() -> argparse.ArgumentParser:
    return build_parser(Settings, __doc__)


def main(args: argparse.Namespace) -> None:
    run(from_args(Settings, args))
