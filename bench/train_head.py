"""LoRA training speed: the output layer on every position (the stock Trainer loss) vs on the
scored positions only (what train_lora.py does).

Builds the learning preset's WikiFacts training data with the pipeline's first four stages (the
demo teacher, then the real filter), a base of the demo's shape (random weights: the speed does
not depend on them; 8,813-word vocabulary, width 256, 2 layers), then trains one agent with the
preset's settings (LoRA r 64 on every linear layer and `lm_head`, batch 8, no length grouping)
for the same steps twice in this process: once with the stock `transformers.Trainer`, once with
the trainer of `autoact.train.lora`. Prints the seconds of each, the ratio and both final losses
(the same up to float rounding: the two compute the same loss).

    python bench/train_head.py [--agent plan] [--steps 40]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, emit, machine  # noqa: E402


def train_seconds(model: Path, data: Path, out: Path, steps: int, stock: bool) -> tuple[float, dict]:
    import transformers

    from autoact.pipeline import preset_train_flags
    from autoact.train import lora
    # the preset's training flags; the later flags (steps instead of epochs) win
    flags = [*preset_train_flags("learning"), "--model_name_or_path", str(model), "--data_path", str(data),
             "--output_dir", str(out), "--max_steps", str(steps), "--logging_steps", "1",
             "--disable_tqdm", "True", "--seed", "0"]
    original = lora.LabelledPositionsTrainer
    if stock:
        lora.LabelledPositionsTrainer = transformers.Trainer
    try:
        start = time.perf_counter()
        record = lora.train(flags)
        return time.perf_counter() - start, record
    finally:
        lora.LabelledPositionsTrainer = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default="plan", choices=("plan", "tool", "reflect", "single"))
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    from autoact.testing.tiny import DEMO, build_tiny_model
    figures: dict = {"machine": machine(), "agent": args.agent, "steps": args.steps}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "OPENAI_BASE_URL": "", "AUTOACT_CACHE": str(tmp / "cache")}
        subprocess.run([sys.executable, "-m", "autoact.pipeline", "--preset", "learning", "--task", "wikifacts",
                        "--work_dir", str(tmp / "w"), "--only", "self_instruct,tool_selection,trajectories,filter"],
                       cwd=REPO, env=env, check=True, capture_output=True)
        data = tmp / "w" / "data" / f"data_{args.agent}.json"
        model = build_tiny_model(tmp / "demo-shaped", replace(DEMO, pretrain_steps=0))
        stock_s, stock = train_seconds(model, data, tmp / "stock", args.steps, stock=True)
        ours_s, ours = train_seconds(model, data, tmp / "ours", args.steps, stock=False)
    figures.update({"examples": stock["data"]["examples"], "stock_s": round(stock_s, 1),
                    "labelled_only_s": round(ours_s, 1), "speedup": round(stock_s / ours_s, 2),
                    "stock_last_loss": stock["last_loss"], "labelled_only_last_loss": ours["last_loss"]})
    print(f"{args.agent} agent, {args.steps} steps of batch 8 on {figures['examples']} WikiFacts examples: "
          f"stock Trainer {stock_s:.1f} s, head on scored positions {ours_s:.1f} s "
          f"({figures['speedup']}x); last loss {stock['last_loss']:.4f} vs {ours['last_loss']:.4f}")
    emit(figures)


if __name__ == "__main__":
    main()
