"""Share of pad tokens in training batches, with and without length grouping.

Builds data_plan.json-shaped training data the way the filter does (the plan role's inputs of
synthetic HotpotQA trajectories with 1-8 steps and real corpus observations), tokenises it with
the tiny model's tokenizer, and counts the padding in one epoch of the Trainer's own training
dataloader, random order vs `train_sampling_strategy=group_by_length` (the default of
train_lora.py). Goal: <= 15% with grouping.

    python bench/train_padding.py [--trajectories 300] [--batch_sizes 2,8]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, emit, machine  # noqa: E402


def synthetic_plan_data(n: int, seed: int = 0) -> list[dict]:
    from autoact.agents.prompts import Step, instruction, prefix
    from autoact.stages.filtering import role_examples
    from autoact.tasks import get_task
    from autoact.tools import default_selection

    task = get_task("hotpotqa")
    instr = instruction(task, default_selection(task.default_tools))
    rows = [ex for lv in task.load_levels(REPO / "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa").values()
            for ex in lv]
    rng = random.Random(seed)
    data = []
    for i in range(n):
        ex = rng.choice(rows)
        sentences = [s for _, ss in ex.fields["context"] for s in ss]
        steps = []
        for k in range(rng.randint(1, 8)):
            obs = " ".join(rng.sample(sentences, min(len(sentences), rng.randint(1, 5))))
            steps.append(Step(f"I need to find more about step {k}.", f"Retrieve[{ex.fields['context'][k % len(ex.fields['context'])][0]}]", obs))
        steps += [Step("I can answer.", f"Finish[{ex.answer}]", "Please reflect your answer."),
                  Step("It fits.", "Reflect[right]", "Answer is CORRECT")]
        rec = {"id": str(i), "question": ex.question, "steps": [vars(s) for s in steps],
               "prompt": prefix(instr, ex.question, steps)}
        data += role_examples(rec)["plan"]
    return data


def pad_share(model, dataset, tokenizer, strategy: str, batch: int) -> float:
    """Padding in one epoch of the Trainer's own training dataloader."""
    import transformers
    from autoact.train.lora import PadCounter
    counter = PadCounter(transformers.DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100,
                                                             padding=True))
    with tempfile.TemporaryDirectory() as tmp:
        args = transformers.TrainingArguments(output_dir=tmp, per_device_train_batch_size=batch,
                                              train_sampling_strategy=strategy, report_to="none",
                                              use_cpu=True, seed=0)
        trainer = transformers.Trainer(model=model, args=args, train_dataset=dataset,
                                       data_collator=counter, processing_class=tokenizer)
        for _ in trainer.get_train_dataloader():
            pass
    return counter.take()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trajectories", type=int, default=300)
    ap.add_argument("--batch_sizes", default="2,8")
    args = ap.parse_args()
    import json
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from autoact.testing.tiny import build_tiny_model
    from autoact.train.lora import build_dataset, prepare_tokenizer
    figures: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny")
        tok = prepare_tokenizer(AutoTokenizer.from_pretrained(model))
        lm = AutoModelForCausalLM.from_pretrained(model)
        data = synthetic_plan_data(args.trajectories)
        path = Path(tmp) / "data_plan.json"
        path.write_text(json.dumps(data))
        ds, stats = build_dataset(tok, str(path), 4096)
        lengths = sorted(ds["length"])
        figures.update({"examples": len(ds), "min_len": lengths[0], "median_len": lengths[len(lengths) // 2],
                        "max_len": lengths[-1]})
        for b in map(int, args.batch_sizes.split(",")):
            rnd, grp = pad_share(lm, ds, tok, "random", b), pad_share(lm, ds, tok, "group_by_length", b)
            figures[f"pad_random_bs{b}"] = round(rnd, 4)
            figures[f"pad_grouped_bs{b}"] = round(grp, 4)
            print(f"batch {b}: pad share random order {rnd:.1%}, grouped by length {grp:.1%} (goal <= 15%)")
    print(f"{figures['examples']} plan examples, {figures['min_len']}-{figures['max_len']} tokens "
          f"(median {figures['median_len']})")
    emit(figures)


if __name__ == "__main__":
    main()
