"""Training the three agents on one loaded base vs loading the base for each agent.

The pipeline trains plan, tool and reflect one after another in one process; since issue 16 it
loads the base once and gives each agent a fresh adapter (``train_with(..., keep_base=True)``),
where each agent used to load the base again. This bench trains the three agents on the
~100M-parameter random Llama (``medium``; the base saved in float32, ~0.4 GB) for ``--steps``
steps each, both ways, in one process, and prints the seconds of each and the time saved. The
adapters are the same both ways (``tests/test_train.py`` compares them byte for byte).

    python bench/train_base_once.py [--steps 2]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import emit, machine  # noqa: E402

ROLES = ("plan", "tool", "reflect")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2, help="training steps per agent (default 2)")
    args = ap.parse_args()
    from autoact.stages import training
    from autoact.testing.tiny import MEDIUM, build_tiny_model

    figures: dict = {"bench": "train_base_once", "machine": machine(), "steps": args.steps}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_model(tmp / "medium", MEDIUM)
        data = tmp / "data.json"
        data.write_text(json.dumps([{"input": f"Question: what is item {i}?\nThought 1:", "output": f"It is {i}."}
                                    for i in range(16)]))

        def agents(keep: bool, tag: str) -> float:
            t0 = time.perf_counter()
            for seed, role in enumerate(ROLES, 1):
                training.run(training.from_flags([
                    "--model_name_or_path", str(model), "--data_path", str(data), "--output_dir",
                    str(tmp / f"{tag}-{role}"), "--max_steps", str(args.steps), "--per_device_train_batch_size", "2",
                    "--save_strategy", "no", "--disable_tqdm", "True", "--seed", str(seed),
                    "--report_to", "none"]), keep_base=keep)
            training.release_bases()
            return time.perf_counter() - t0
        agents(False, "warm-up")       # first use: imports, allocator, caches
        import transformers
        t0 = time.perf_counter()
        transformers.AutoModelForCausalLM.from_pretrained(model)
        load = time.perf_counter() - t0
        each = agents(False, "each")
        once = agents(True, "once")
    figures.update({"one_load_seconds": round(load, 3), "load_each_seconds": round(each, 2), "load_once_seconds": round(once, 2),
                    "saved_seconds": round(each - once, 2), "speedup": round(each / once, 2)})
    print(f"machine: {machine()}; 3 agents x {args.steps} steps on the ~100M model")
    print(f"one load of the base (from the page cache): {load:.3f} s")
    print(f"base loaded for each agent: {each:.2f} s; loaded once: {once:.2f} s; saved {each - once:.2f} s "
          f"({each / once:.2f}x); the saving is two loads of the base, whatever their cost")
    emit(figures)


if __name__ == "__main__":
    main()
