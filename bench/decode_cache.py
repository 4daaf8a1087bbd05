"""Decoding with the local backend: the stock key/value cache (a ``torch.cat`` of the whole cache
for every new token) vs the backend's growing cache (each new column written in place).

A base of the demo's shape (random weights: the speed does not depend on them), three LoRA
adapters (r 64 on every linear layer, as the learning preset trains them), and one batch of
``--rows`` prompts of ``--prompt_tokens`` tokens each, the adapters mixed as in group planning,
each row decoding ``--new_tokens`` tokens (no stop string): the shape of one of the default
run's evaluation calls. The same batch runs with either cache, interleaved, ``--rounds`` times
after a warm-up; the prefix cache is off so that both prefill the whole prompt. This is the
generate() path (models without continuous batching; the running batch has key/value buffers
of its own, ``autoact/llm/hf_engine.py``). Prints the
median seconds of each, the ratio, its range, and whether every round's tokens were equal.

    python bench/decode_cache.py [--rows 12] [--prompt_tokens 1000] [--new_tokens 30] [--rounds 5]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import emit, machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--prompt_tokens", type=int, default=1000)
    ap.add_argument("--new_tokens", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import random

    from transformers import DynamicCache

    from autoact.llm import hf_backend
    from autoact.llm.hf_backend import HFLLM
    from autoact.testing.tiny import DEMO, build_random_adapter, build_tiny_model, vocabulary_words

    growing = hf_backend._growing_cache

    def stock(num_layers, capacity, layers=None):
        return DynamicCache(ddp_cache_data=layers) if layers else DynamicCache()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = build_tiny_model(tmp / "base", replace(DEMO, pretrain_steps=0))
        targets = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
        names = ("plan", "tool", "reflect")
        adapters = {n: str(build_random_adapter(base, tmp / n, seed=i, r=64, alpha=16, target_modules=targets,
                                                scale=0.01)) for i, n in enumerate(names)}
        llm = HFLLM(str(base), adapters, dtype="float32", device="cpu", prefix_cache_mb=0,
                    max_batch_size=args.rows, continuous=False)
        rng = random.Random(0)
        words = [w for w in vocabulary_words() if w.isalpha()]
        prompts = []
        for i in range(args.rows):       # prompts of about --prompt_tokens tokens (a word and a space each)
            text = " ".join(rng.choice(words) for _ in range(args.prompt_tokens // 2))
            prompts.append(text)
        models = [names[i % 3] for i in range(args.rows)]

        def once(make) -> tuple[float, list[str]]:
            hf_backend._growing_cache = make
            start = time.perf_counter()
            out = llm.complete(prompts, model=models, max_tokens=args.new_tokens, temperature=0.0, stop=())
            return time.perf_counter() - start, [c.texts[0] for c in out]

        once(stock)
        once(growing)
        times: dict[str, list[float]] = {"stock": [], "growing": []}
        equal = True
        for _ in range(args.rounds):
            a, ta = once(stock)
            b, tb = once(growing)
            times["stock"].append(a)
            times["growing"].append(b)
            equal &= ta == tb
        hf_backend._growing_cache = growing
        tokens = [llm.count_tokens(p) for p in prompts]
        llm.close()
    ratios = [a / b for a, b in zip(times["stock"], times["growing"])]
    figures = {"machine": machine(), "rows": args.rows, "prompt_tokens": round(statistics.mean(tokens)),
               "new_tokens": args.new_tokens, "rounds": args.rounds,
               "stock_s": round(statistics.median(times["stock"]), 3),
               "growing_s": round(statistics.median(times["growing"]), 3),
               "ratio_median": round(statistics.median(ratios), 2),
               "ratio_range": [round(min(ratios), 2), round(max(ratios), 2)], "tokens_equal": equal}
    print(f"{args.rows} rows x ~{figures['prompt_tokens']} prompt tokens, {args.new_tokens} new tokens each: "
          f"stock cache {figures['stock_s']} s, growing cache {figures['growing_s']} s (median of "
          f"{args.rounds}); ratio {figures['ratio_median']}x (range {figures['ratio_range'][0]}-"
          f"{figures['ratio_range'][1]}); tokens equal: {equal}")
    emit(figures)


if __name__ == "__main__":
    main()
