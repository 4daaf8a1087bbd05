"""Group planning: the plan, tool and reflect agents solve the benchmark together; plus the
baselines and ablations in the same harness.

    python Self_Planning/Group_Planning/run_eval.py --agent_name ZeroshotThink_HotPotQA_run_Agent \\
        --plan_agent plan --tool_agent tool --reflect_agent reflect --max_context_len 4096 \\
        --task HotpotQA --task_path Self_Planning/Group_Planning/benchmark_run/data/hotpotqa \\
        --save_path Self_Planning/Group_Planning/output/13b

The agent names are model names on an OpenAI-compatible server (--base_url / $OPENAI_BASE_URL;
e.g. one vLLM server with the three adapters: Scripts/serve_vllm.sh), or with
--backend hf --base_model DIR, adapter folders loaded once onto that base in this process.
Writes one JSONL per level/grade into --save_path (easy.jsonl, ... / grade1-4.jsonl, ...),
resumable like trajectory synthesis, summary.json and eval.config.json (settings, the decoding
actually sent, tools, prompts file, retrieval setting). --method picks the system:
autoact (three agents), autoact_per_tool (the finer division of labour: one tool agent per
action, --tool_agents TOOL=ADAPTER, trained on filter_data.py --per_tool's data_tool_<Name>.json;
the plan and reflect agents as autoact's), single (one model fine-tuned on every role's data plays all roles:
--single_agent; the FireAct-style agent, also named fireact), no_reflect (no
reflect agent: the first Finish is final), zeroshot (the Meta-Agent prompt, base model:
--llm_name), react (few-shot ReAct, base model), cot (few-shot chain of thought, base model),
reflexion (ReAct trials; after one the model judges its answer and, when wrong, writes a
reflection the next trial reads: --max_trials; base model), rewoo (ReWOO: one planner call
writes every tool call, the tools run, one solver call answers), chameleon (a planner writes a
program of modules, the selected tools, that run in order over a shared cache; a solver answers)
or bolaa (a controller routes each step to one labour agent per tool); the last three on the
base model.

The reference's protocol by default: temperature 0.5, top_p 0.75, top_k 40, num_beams 4, at most
256 tokens per call, stop at the newline; the tools of Self_Planning/Tool_Selection/{Task}_Tools.json
when it exists; live Wikipedia (--wiki).
"""

from __future__ import annotations

import argparse

from autoact.settings import build_parser, from_args
from autoact.stages.evaluation import Settings, run


def make_parser() -> argparse.ArgumentParser:
    return build_parser(Settings, __doc__)


def main(args: argparse.Namespace) -> None:
    run(from_args(Settings, args))
