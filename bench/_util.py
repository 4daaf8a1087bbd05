"""Helpers shared by the benchmark scripts (not a test utility: benches print, never assert)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
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
    """Run ``python -m autoact.testing.fake_server`` in its own process (no GIL shared with the
    client being measured) and yield its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "autoact.testing.fake_server", "--port", "0", *args],
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


def emit(figures: dict) -> None:
    """Print the figures as one JSON object on the last line."""
    print(json.dumps(figures, sort_keys=True))
