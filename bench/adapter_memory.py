"""Memory of one base model with 3 LoRA adapters vs with 1, on the local backend.

Each configuration loads in a fresh process (peak RSS is per process) and runs one mixed
generate. Measured on the tiny model and on a ~100M-parameter random Llama.
Goal: base + 3 adapters <= 1.1x base + 1 adapter.

    python bench/adapter_memory.py [--sizes tiny,medium]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import emit, machine  # noqa: E402

ROLES = ("plan", "tool", "reflect")


def child(model: str, adapters: list[str]) -> None:
    """Load base + adapters, generate once with every adapter in the batch, print figures."""
    from autoact.llm.hf_backend import HFLLM
    llm = HFLLM(model, {Path(a).name: a for a in adapters}, dtype="float32", device="cpu")
    names = [Path(a).name for a in adapters]
    llm.complete([f"Question {i}: who?" for i in range(len(names))], model=names, max_tokens=8)
    param_bytes = sum(p.numel() * p.element_size() for p in llm.model.parameters())
    lora_bytes = sum(p.numel() * p.element_size() for n, p in llm.model.named_parameters() if "lora_" in n)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"param_bytes": param_bytes, "lora_bytes": lora_bytes, "peak_rss": rss}))


def measure(model: Path, adapters: list[Path]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(model), *map(str, adapters)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="tiny,medium")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1:])
        return
    from autoact.testing.tiny import MEDIUM, TinyConfig, build_random_adapter, build_tiny_model
    figures: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            cfg = {"tiny": TinyConfig(), "medium": MEDIUM}[size]
            model = build_tiny_model(Path(tmp) / size, cfg)
            ads = [build_random_adapter(model, Path(tmp) / f"{size}-ad" / r, seed=i)
                   for i, r in enumerate(ROLES)]
            one, three = measure(model, ads[:1]), measure(model, ads)
            params = one["param_bytes"] - one["lora_bytes"]
            figures[f"{size}_base_params"] = params // 4
            figures[f"{size}_rss_1_adapter_mb"] = round(one["peak_rss"] / 2**20, 1)
            figures[f"{size}_rss_3_adapters_mb"] = round(three["peak_rss"] / 2**20, 1)
            figures[f"{size}_rss_ratio"] = round(three["peak_rss"] / one["peak_rss"], 3)
            figures[f"{size}_param_bytes_ratio"] = round(three["param_bytes"] / one["param_bytes"], 4)
            print(f"{size} ({params // 4 / 1e6:.1f}M params): peak RSS 1 adapter "
                  f"{one['peak_rss'] / 2**20:.0f} MiB, 3 adapters {three['peak_rss'] / 2**20:.0f} MiB "
                  f"-> {three['peak_rss'] / one['peak_rss']:.3f}x; parameter bytes "
                  f"{three['param_bytes'] / one['param_bytes']:.4f}x (goal <= 1.1x)")
    emit(figures)


if __name__ == "__main__":
    main()
