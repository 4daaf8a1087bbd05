"""Model names in one place: aliases (``llama-2-13b-chat`` -> a served name or a local path) and
the role map of group planning (``plan``/``tool``/``reflect`` -> model or adapter names)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autoact.errors import ConfigError

#: alias -> Hugging Face hub id. A server may serve either spelling (vLLM: --served-model-name).
ALIASES: dict[str, str] = {
    "llama-2-7b-chat": "meta-llama/Llama-2-7b-chat-hf",
    "llama-2-13b-chat": "meta-llama/Llama-2-13b-chat-hf",
    "llama-2-70b-chat": "meta-llama/Llama-2-70b-chat-hf",
    "llama-2-7b": "meta-llama/Llama-2-7b-hf",
    "llama-2-13b": "meta-llama/Llama-2-13b-hf",
    "llama-2-70b": "meta-llama/Llama-2-70b-hf",
    "mistral-7b-instruct": "mistralai/Mistral-7B-Instruct-v0.2",
    "mistral-7b": "mistralai/Mistral-7B-v0.1",
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "qwen2.5-7b-instruct": "Qwen/Qwen2.5-7B-Instruct",
}

#: environment variable naming a folder that holds local models by alias
#: (``$AUTOACT_MODEL_DIR/llama-2-13b-chat/config.json``)
MODEL_DIR_ENV = "AUTOACT_MODEL_DIR"

ROLES = ("plan", "tool", "reflect")


def candidate_names(name: str) -> list[str]:
    """Spellings a server might use for ``name``: itself, its hub id, the hub id's basename,
    and (for a hub id) its alias."""
    out = [name]
    hub = ALIASES.get(name) or ALIASES.get(name.lower())
    if hub:
        out += [hub, hub.split("/")[-1]]
    for alias, hub_id in ALIASES.items():
        if name in (hub_id, hub_id.split("/")[-1]):
            out.append(alias)
    return list(dict.fromkeys(out))


def resolve_served_name(name: str, served: list[str], url: str = "the server") -> str:
    for cand in candidate_names(name):
        if cand in served:
            return cand
    raise ConfigError(f"model {name!r} is not served by {url}; it serves: "
                      f"{', '.join(served) or '(nothing)'}")


def resolve_local_model(name: str) -> str | None:
    """A local folder (or cached hub id) for ``name``, or ``None``.

    Order: an existing folder; ``$AUTOACT_MODEL_DIR/<name>``; the alias's hub id if it is
    already in the local Hugging Face cache (no download is attempted here).
    """
    if not name:
        return None
    p = Path(name).expanduser()
    if p.is_dir():
        return str(p)
    root = os.environ.get(MODEL_DIR_ENV)
    if root:
        for cand in candidate_names(name):
            q = Path(root).expanduser() / cand
            if q.is_dir():
                return str(q)
    for cand in candidate_names(name):
        if "/" in cand and _in_hf_cache(cand):
            return cand
    return None


def _in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return False
    try:
        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - a malformed repo id is simply "not cached"
        return False
    return isinstance(hit, str)


def no_model_error(name: str) -> ConfigError:
    return ConfigError(
        f"no model for {name!r}: set OPENAI_BASE_URL (or --base_url) to an OpenAI-compatible "
        f"server that serves it, or pass --backend hf --model_path /path/to/model "
        f"(or put it at ${MODEL_DIR_ENV}/{name})")


@dataclass(frozen=True)
class RoleMap:
    """Which model/adapter name plays each group-planning role."""

    plan: str = "plan"
    tool: str = "tool"
    reflect: str = "reflect"
    #: one tool agent per action (``autoact_per_tool``): action name -> model; ``tool`` writes the rest
    per_tool: tuple[tuple[str, str], ...] = ()

    def __getitem__(self, role: str) -> str:
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        return getattr(self, role)

    def names(self) -> list[str]:
        return list(dict.fromkeys([*(self[r] for r in ROLES), *(model for _, model in self.per_tool)]))

    def tool_for(self, action: str) -> str:
        """The model that writes the argument of ``action`` (a registry name)."""
        return dict(self.per_tool).get(action, self.tool)

    @classmethod
    def single(cls, name: str) -> "RoleMap":
        """One model plays all three roles (the paper's "one model for all" ablation)."""
        return cls(name, name, name)
