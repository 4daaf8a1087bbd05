"""Helpers shared by the benchmark scripts (not a test utility: benches print, never assert)."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def machine() -> str:
    return f"{platform.machine()} {psutil.cpu_count(logical=True)} CPUs, " \
           f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.python_implementation()} " \
           f"{platform.python_version()}"


@contextmanager
def fake_server_process(*args: str):
    """Run ``python -m autoact.llm.fake_server`` in its own process (no GIL shared with the
    client being measured) and yield its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "autoact.llm.fake_server", "--port", "0", *args],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("FAKE_SERVER_URL "):
            raise RuntimeError(f"fake server did not start: {line!r}")
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def vllm_python() -> str | None:
    env = os.environ.get("AUTOACT_VLLM_PYTHON")
    if env:
        return env
    local = REPO / ".venv-vllm" / "bin" / "python"
    return str(local) if local.exists() else None


@contextmanager
def vllm_server(python: str, model: Path, adapters: dict[str, Path], port: int, log: Path):
    """Start a vLLM CPU server serving ``model`` as ``tiny`` plus LoRA adapters."""
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", "tiny", "--enable-lora", "--lora-modules",
           *[f"{k}={v}" for k, v in adapters.items()], "--max-lora-rank", "8",
           "--max-loras", str(max(1, len(adapters))), "--max-model-len", "512",
           "--dtype", "float32", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("vLLM not up after 300 s") from None
                time.sleep(1)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def emit(figures: dict) -> None:
    """Print the figures as one JSON object on the last line."""
    print(json.dumps(figures, sort_keys=True))
