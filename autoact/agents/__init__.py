"""Agents: the episode protocol, the zero-shot Meta-Agent, group planning, the runner.

``AGENTS`` maps the reference's agent names (the ``--agent_name`` of the seed commands) to the
task they are written for (``None``: any task).
"""

from __future__ import annotations

from autoact.errors import ConfigError
from autoact.tasks.base import Task

AGENTS: dict[str, str | None] = {
    "ZeroshotThink_HotPotQA_run_Agent": "hotpotqa",
    "ZeroshotThink_ScienceQA_run_Agent": "scienceqa",
    "ZeroshotThink_run_Agent": None,
}


def check_agent(name: str, task: Task) -> None:
    """The agent name must exist and suit the task (case-insensitive)."""
    by_lower = {k.lower(): (k, v) for k, v in AGENTS.items()}
    hit = by_lower.get(name.lower())
    if hit is None:
        raise ConfigError(f"unknown agent {name!r}; valid agents: {', '.join(AGENTS)}")
    canonical, for_task = hit
    if for_task is not None and for_task != task.name.lower():
        raise ConfigError(f"agent {canonical} is for {for_task}, not {task.name}; use "
                          f"ZeroshotThink_run_Agent or the task's own agent")
